//go:build registry

package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

func TestLoginPushLogout(t *testing.T) {
	// Docker's config goes to a directory of the test's own.
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	reg := testutil.StartRegistryWithAuth(t, "alice", "s3cret")
	s := openStore(t)
	name := reg.Host + "/team/bb:1"
	if _, err := s.Import(context.Background(), strings.NewReader(string(tarOf(t, file("etc/x", "1")))), name); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(context.Background(), name, nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("push without credentials: %v, want ErrUnauthorized", err)
	}
	if err := Login(context.Background(), reg.Host, "alice", "wrong"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
		if strings.Contains(string(b), reg.Host) {
			t.Errorf("a refused login was stored: %s", b)
		}
	}
	if err := Login(context.Background(), reg.Host, "alice", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(context.Background(), name, nil); err != nil {
		t.Fatalf("push after login: %v", err)
	}
	if err := Logout(reg.Host); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if strings.Contains(string(b), reg.Host) {
		t.Errorf("credentials left after logout: %s", b)
	}
	if err := Logout(reg.Host); err == nil {
		t.Error("a second logout succeeded")
	}
}
