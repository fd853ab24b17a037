package runtime

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceRule renders r as "allow c 1:3 rwm" or "deny a *:* rwm".
func deviceRule(r specs.LinuxDeviceCgroup) string {
	if r.Allow {
		return "allow " + v1DeviceRule(r)
	}
	return "deny " + v1DeviceRule(r)
}

func TestCgroupDefaultDevices(t *testing.T) {
	var got []string
	for _, r := range defaultDevices() {
		got = append(got, deviceRule(r))
	}
	want := []string{
		"deny a *:* rwm",
		"allow c *:* m",
		"allow b *:* m",
		"allow c 1:3 rwm",
		"allow c 1:5 rwm",
		"allow c 1:7 rwm",
		"allow c 1:8 rwm",
		"allow c 1:9 rwm",
		"allow c 5:0 rwm",
		"allow c 5:1 rwm",
		"allow c 5:2 rwm",
		"allow c 136:* rwm",
	}
	if !slices.Equal(got, want) {
		t.Errorf("defaultDevices() =\n%q\nwant\n%q", got, want)
	}
	// The v2 filter is compiled from the same rules; it must take them all.
	insts, _, err := cgroup2.DeviceFilter(defaultDevices())
	if err != nil {
		t.Fatalf("compiling the v2 device filter: %v", err)
	}
	if len(insts) < len(want) {
		t.Errorf("device filter has %d instructions for %d rules", len(insts), len(want))
	}
}

// checkDevicesEnforced runs a shell in cg and checks that it may read
// /dev/null but not /dev/kmsg (c 1:11), which the default rules leave out.
func checkDevicesEnforced(t *testing.T, cg cgroup) {
	t.Helper()
	if f, err := os.Open("/dev/kmsg"); err != nil {
		t.Skipf("cannot open /dev/kmsg outside the cgroup either: %v", err)
	} else {
		f.Close()
	}
	// The shell waits for a line on stdin, so that it opens the devices
	// only once it is in the group.
	cmd := exec.Command("sh", "-c", `
read _ || exit 2
cat /dev/null || exit 3
(: </dev/kmsg) 2>/dev/null && exit 4
exit 0`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	if err := cg.AddProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Error("/dev/null (c 1:3) is denied in the group")
	case errors.As(err, &exit) && exit.ExitCode() == 4:
		t.Error("/dev/kmsg (c 1:11) is allowed in the group")
	default:
		t.Errorf("device check shell: %v", err)
	}
}
