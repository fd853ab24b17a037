/*
 * berth-shim is PID 1 of a berth container once its workload runs: the Go
 * init (runtime/containerinit) sets the container up, starts the workload
 * behind a gate, and then execs this program in its own place, so that a
 * running container costs a small static C program's memory, not a Go
 * runtime's. runtime/containerinit/doc.go ("The shim") has the design.
 *
 * Two modes, argv[1]:
 *
 *   supervise [-p PID] [-j N] [-l N] [-n NAME] [-eotais]
 *       PID 1 after the handover: what supervise() of the Go init does
 *       (supervise.c). PID is the workload's, -j and -l count the cgroup
 *       files at FD_JOIN an exec helper writes to (join, leave), NAME is
 *       the command as Go's %q quotes it (for exec errors). Flags:
 *       -e ephemeral (no fsync), -o FD_OOM is open, -t the workload has a
 *       pty, -a a user is attached, -i with stdin, -s the workload's
 *       stdin is a pipe.
 *   gate PATH ARGV...
 *       The workload itself, forked by the Go init with the container's
 *       user, capabilities, cgroups and stdio: it waits for PID 1's byte on
 *       GATE_FD_WAIT and then execs PATH. So no process of the container
 *       runs while PID 1 is dumpable (execve makes it so until the shim's
 *       first prctl). An exec that fails sends its errno on GATE_FD_ERR.
 *
 * It is not meant to be run by hand.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

static int gate(int argc, char **argv)
{
	char b;
	ssize_t n;
	/* The Go init's pipes are nonblocking; this one must wait. */
	set_nonblock(GATE_FD_WAIT, 0);
	do
		n = read(GATE_FD_WAIT, &b, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(EXIT_SETUP_FAILED); /* PID 1 died before it let us run */
	close(GATE_FD_WAIT);
	close(GATE_FD_EXE);
	set_cloexec(GATE_FD_ERR, 1);
	int e = EINVAL;
	if (argc >= 4) {
		execve(argv[2], argv + 3, environ);
		e = errno;
	}
	(void)write_all(GATE_FD_ERR, &e, sizeof e);
	_exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE);
}

static int parse_config(int argc, char **argv, struct config *c)
{
	memset(c, 0, sizeof *c);
	c->name = "\"\"";
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1])
			return -1;
		if (strchr("pjln", a[1])) {
			if (a[2] || i + 1 >= argc)
				return -1;
			const char *v = argv[++i];
			int bad = 0;
			switch (a[1]) {
			case 'p':
				bad = parse_int(v, &c->pid);
				break;
			case 'j':
				bad = parse_int(v, &c->join);
				break;
			case 'l':
				bad = parse_int(v, &c->leave);
				break;
			case 'n':
				c->name = v;
				break;
			}
			if (bad)
				return -1;
			continue;
		}
		for (const char *f = a + 1; *f; f++) {
			switch (*f) {
			case 'e':
				c->ephemeral = 1;
				break;
			case 'o':
				c->has_oom = 1;
				break;
			case 't':
				c->tty = 1;
				break;
			case 'a':
				c->attached = 1;
				break;
			case 'i':
				c->user_in = 1;
				break;
			case 's':
				c->stdin_pipe = 1;
				break;
			default:
				return -1;
			}
		}
	}
	if (c->pid <= 0 || c->join + c->leave > FD_EXEC_LISTEN - FD_JOIN)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], ARG_GATE) == 0)
		return gate(argc, argv);
	if (argc < 2 || strcmp(argv[1], ARG_SUPERVISE) != 0) {
		warn("berth-shim is started by berth's container init, not by hand", 0);
		return 2;
	}
	/*
	 * First of all: execve made us dumpable again, and nothing in the
	 * container may reach the host's files we hold through /proc/1/fd.
	 * The workload waits at its gate until this is done.
	 */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Every signal waits for the signalfd (the raw call: glibc keeps 32 and 33 out of its sets). */
	uint64_t all = ~0ULL;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	(void)prctl(PR_SET_NAME, "berth-init", 0, 0, 0);
	/* Nothing of ours goes to a process we start unless we say so. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	close(FD_SHIM_EXE);
	struct config c;
	if (parse_config(argc, argv, &c) < 0) {
		warn("bad arguments from the init", 0);
		return EXIT_SETUP_FAILED;
	}
	return supervise(&c);
}
