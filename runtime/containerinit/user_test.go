package containerinit

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeEtc(t *testing.T) (passwd, group string) {
	t.Helper()
	dir := t.TempDir()
	passwd = filepath.Join(dir, "passwd")
	group = filepath.Join(dir, "group")
	files := map[string]string{
		passwd: "# users\nroot:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\nbroken line\n",
		group:  "root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\nbob:x:1001:\nwheel:x:10:alice\n",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return passwd, group
}

func TestLookupUser(t *testing.T) {
	passwd, group := writeEtc(t)
	cases := []struct {
		spec string
		want execUser
		err  string
	}{
		{spec: "", want: execUser{Uid: 0, Gid: 0, Home: "/root"}},
		{spec: "root", want: execUser{Home: "/root"}},
		{spec: "alice", want: execUser{Uid: 1000, Gid: 1000, Groups: []uint32{50, 10}, Home: "/home/alice"}},
		{spec: "1001", want: execUser{Uid: 1001, Gid: 1001, Groups: []uint32{50}, Home: "/home/bob"}},
		{spec: "alice:staff", want: execUser{Uid: 1000, Gid: 50, Groups: []uint32{10}, Home: "/home/alice"}},
		{spec: "alice:77", want: execUser{Uid: 1000, Gid: 77, Groups: []uint32{50, 10}, Home: "/home/alice"}},
		{spec: "4242", want: execUser{Uid: 4242, Gid: 0, Home: "/"}},
		{spec: "4242:4343", want: execUser{Uid: 4242, Gid: 4343, Home: "/"}},
		{spec: "mallory", err: "unable to find user mallory"},
		{spec: "alice:nogroup", err: "unable to find group nogroup"},
	}
	for _, tc := range cases {
		t.Run("spec "+tc.spec, func(t *testing.T) {
			got, err := lookupUser(tc.spec, passwd, group)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLookupUser_MissingFiles(t *testing.T) {
	got, err := lookupUser("1234", "/nonexistent/passwd", "/nonexistent/group")
	if err != nil || got.Uid != 1234 || got.Gid != 0 || got.Home != "/" {
		t.Errorf("got %+v, %v", got, err)
	}
}
