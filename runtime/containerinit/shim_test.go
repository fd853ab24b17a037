package containerinit

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestShimFdsMatch holds cmd/berth-shim/shim.h to protocol.go: the init
// leaves each file at the fd the shim reads it from.
func TestShimFdsMatch(t *testing.T) {
	h, err := os.ReadFile("../../cmd/berth-shim/shim.h")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"FD_SYNC": FdSync, "FD_INIT_EXE": FdInitExe, "FD_SHIM_EXE": FdShimExe,
		"FD_STATE_DIR": FdStateDir, "FD_LOG": FdLog, "FD_OOM": FdOOM,
		"FD_USER_STDIN": FdStdin, "FD_USER_STDOUT": FdStdout, "FD_USER_STDERR": FdStderr,
		"FD_JOIN": FdJoin, "FD_EXEC_LISTEN": FdExecListen, "FD_CGROUP_NS": FdCgroupNS,
		"FD_EXEC_SPEC": FdExecSpec, "FD_WORKLOAD_STDIN": FdWorkloadStdin,
		"FD_WORKLOAD_STDOUT": FdWorkloadStdout, "FD_WORKLOAD_STDERR": FdWorkloadStderr,
		"FD_GATE": FdGate, "FD_GATE_ERR": FdGateErr, "FD_EXEC_CONN": FdExecConn,
		"FD_EXEC_END": FdExecEnd, "GATE_FD_EXE": GateFdExe, "GATE_FD_WAIT": GateFdWait,
		"GATE_FD_ERR":       GateFdErr,
		"EXIT_SETUP_FAILED": ExitSetupFailed, "EXIT_CANNOT_EXECUTE": ExitCannotExecute,
		"EXIT_NOT_FOUND": ExitNotFound,
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define ((?:GATE_)?(?:FD|EXIT)_[A-Z_]+) (\d+)`).FindAllSubmatch(h, -1) {
		n, _ := strconv.Atoi(string(m[2]))
		got[string(m[1])] = n
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("shim.h %s = %d, protocol.go says %d", name, got[name], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("shim.h defines %d fds and codes, this test knows %d: %v", len(got), len(want), got)
	}
	args := map[string]string{"ARG_SUPERVISE": ShimSupervise, "ARG_GATE": ShimGate, "ARG_EXEC_CONN": ExecConnArg, "STOP_FILE": StopFile}
	for name, v := range args {
		if !regexp.MustCompile(`(?m)^#define ` + name + ` "` + regexp.QuoteMeta(v) + `"$`).Match(h) {
			t.Errorf("shim.h %s is not %q", name, v)
		}
	}
}
