package volume

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// usersOf fakes what cmd reads from the containers' configs.
func usersOf(m map[string][]string) UsersFunc {
	return func() (map[string][]string, error) { return m, nil }
}

func TestCreate_NamedIsReused(t *testing.T) {
	s, root := openStore(t)
	v, err := s.Create("data", CreateOptions{Labels: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Anonymous || v.Driver != "local" || v.Mountpoint() != filepath.Join(root, "volumes", "data", "_data") {
		t.Errorf("created %+v, mountpoint %s", v, v.Mountpoint())
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint(), "f"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := s.Create("data", CreateOptions{Labels: map[string]string{"team": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.Labels["team"] != "a" || !again.CreatedAt.Equal(v.CreatedAt) {
		t.Errorf("creating an existing volume changed it: %+v", again)
	}
	if b, _ := os.ReadFile(filepath.Join(again.Mountpoint(), "f")); string(b) != "kept" {
		t.Errorf("data after the second create: %q", b)
	}
}

func TestCreate_Anonymous(t *testing.T) {
	s, _ := openStore(t)
	v, err := s.Create("", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(v.Name) || !v.Anonymous {
		t.Errorf("anonymous volume %+v", v)
	}
	got, err := s.Get(v.Name)
	if err != nil || !got.Anonymous {
		t.Errorf("Get = %+v, %v", got, err)
	}
}

func TestCreate_InvalidNames(t *testing.T) {
	s, _ := openStore(t)
	for name, bad := range map[string]string{
		"one character":    "a",
		"leading dot":      ".hidden",
		"leading dash":     "-x",
		"slash":            "a/b",
		"dot dot":          "..",
		"colon":            "a:b",
		"space":            "a b",
		"longer than 255":  strings.Repeat("x", 256),
		"non-ascii letter": "données",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Create(bad, CreateOptions{})
			var ne *NameError
			if !errors.As(err, &ne) || !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "[a-zA-Z0-9_.-]") {
				t.Errorf("Create(%q) = %v, want a NameError", bad, err)
			}
		})
	}
	for _, good := range []string{"ab", "my_vol.1-x", "0a", strings.Repeat("x", 255)} {
		if _, err := s.Create(good, CreateOptions{}); err != nil {
			t.Errorf("Create(%q) = %v", good, err)
		}
	}
}

func TestCreate_Concurrent(t *testing.T) {
	s, _ := openStore(t)
	var wg sync.WaitGroup
	got := make([]*Volume, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Create("shared", CreateOptions{})
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || !got[i].CreatedAt.Equal(got[0].CreatedAt) {
			t.Errorf("create %d: %+v, %v", i, got[i], errs[i])
		}
	}
	if vols, _ := s.List(); len(vols) != 1 {
		t.Errorf("%d volumes after concurrent creates of one name", len(vols))
	}
	if debris, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-*")); len(debris) > 0 {
		t.Errorf("left behind: %v", debris)
	}
}

func TestGetListRemove(t *testing.T) {
	s, _ := openStore(t)
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing volume: %v", err)
	}
	for _, n := range []string{"zz", "aa", "mm"} {
		if _, err := s.Create(n, CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	vols, err := s.List()
	if err != nil || len(vols) != 3 || vols[0].Name != "aa" || vols[2].Name != "zz" {
		t.Fatalf("List = %v, %v", vols, err)
	}
	err = s.Remove("mm", usersOf(map[string][]string{"mm": {"web", "db"}}))
	var iu *InUseError
	if !errors.As(err, &iu) || !errors.Is(err, ErrInUse) || err.Error() != `volume "mm" is in use by containers db, web` {
		t.Errorf("Remove of a volume in use: %v", err)
	}
	if err := s.Remove("mm", usersOf(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("mm"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	if err := s.Remove("mm", usersOf(nil)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	failing := func() (map[string][]string, error) { return nil, errors.New("disk on fire") }
	if err := s.Remove("aa", failing); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Remove with unreadable users: %v", err)
	}
	if _, err := s.Get("aa"); err != nil {
		t.Errorf("a failed users read removed the volume: %v", err)
	}
}

func TestPrune(t *testing.T) {
	s, _ := openStore(t)
	named, _ := s.Create("named", CreateOptions{})
	busy, _ := s.Create("", CreateOptions{})
	idle, _ := s.Create("", CreateOptions{})
	if err := os.WriteFile(filepath.Join(idle.Mountpoint(), "f"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	// Debris of a create and a remove that were cut short.
	os.Mkdir(filepath.Join(s.dir, ".tmp-123"), 0o700)
	os.Mkdir(filepath.Join(s.dir, ".trash-x-1"), 0o700)
	users := usersOf(map[string][]string{busy.Name: {"web"}})
	r, err := s.Prune(false, users)
	if err != nil || len(r.Removed) != 1 || r.Removed[0] != idle.Name || r.Reclaimed != 1000 {
		t.Fatalf("Prune = %+v, %v; want only %s, 1000 bytes", r, err, idle.Name)
	}
	if debris, _ := filepath.Glob(filepath.Join(s.dir, ".t*")); len(debris) > 0 {
		t.Errorf("debris left: %v", debris)
	}
	r, err = s.Prune(true, users)
	if err != nil || len(r.Removed) != 1 || r.Removed[0] != named.Name {
		t.Errorf("Prune -a = %+v, %v; want only %s", r, err, named.Name)
	}
	if vols, _ := s.List(); len(vols) != 1 || vols[0].Name != busy.Name {
		t.Errorf("left: %v", vols)
	}
}

func TestNameOf(t *testing.T) {
	root := "/var/lib/berth"
	cases := []struct {
		source string
		name   string
		ok     bool
	}{
		{"/var/lib/berth/volumes/data/_data", "data", true},
		{"/var/lib/berth/volumes/data/_data/", "data", true},
		{"/var/lib/berth/volumes/data", "", false},
		{"/var/lib/berth/volumes/data/_data/sub", "", false},
		{"/srv/volumes/data/_data", "", false},
		{"/var/lib/berth/volumes/.tmp-1/_data", "", false},
		{"/var/lib/berth/x/volumes/data/_data", "", false},
	}
	for _, tc := range cases {
		name, ok := NameOf(root, tc.source)
		if name != tc.name || ok != tc.ok {
			t.Errorf("NameOf(%q) = %q, %v", tc.source, name, ok)
		}
	}
}

func TestSize_HardLinksOnce(t *testing.T) {
	s, _ := openStore(t)
	v, _ := s.Create("sized", CreateOptions{})
	f := filepath.Join(v.Mountpoint(), "f")
	if err := os.WriteFile(f, make([]byte, 300), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(f, filepath.Join(v.Mountpoint(), "g")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("f", filepath.Join(v.Mountpoint(), "l"))
	if n := Size(v); n != 300 {
		t.Errorf("Size = %d, want 300", n)
	}
}
