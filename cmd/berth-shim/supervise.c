/*
 * The container's life after the handover, as the Go init's supervise()
 * (supervise.go) lives it: forward signals, reap, copy the workload's
 * output, start an exec helper per exec connection, and when the workload
 * is gone end the container and record why.
 *
 * One thread and one poll(2) loop. The workload's ends are ours alone and
 * nonblocking; the user's files are shared with the user's terminal, so
 * they stay as they are and are written only when poll says they take
 * more (a pipe then takes 4 KiB without blocking).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define MAX_HELPERS 256

static struct stream out = {.name = "stdout", .fd = -1, .user = -1};
static struct stream err = {.name = "stderr", .fd = -1, .user = -1};

/* stdin: from the user (when attached with -i) into the workload */
static struct {
	int from, to;   /* -1 once done */
	int close_to;   /* a pipe: the workload reads EOF when the user's ends */
	size_t off, len;
	char buf[4096];
} in = {.from = -1, .to = -1};

static int sfd = -1;      /* signalfd of every signal */
static int listen_fd = -1; /* the exec socket, until the workload ends */
static int end_w = -1;    /* FD_EXEC_END's other end: closed when the container ends */
static int helpers[MAX_HELPERS];
static int nhelpers;

static const struct config *cfg;
static int wstatus, workload_done;

/* The Go names of the errors an exec can end with (syscall.Errno.Error()). */
static const struct {
	int no;
	const char *text;
} errnames[] = {
	{ENOENT, "no such file or directory"}, {EACCES, "permission denied"},
	{ENOEXEC, "exec format error"}, {EISDIR, "is a directory"},
	{EPERM, "operation not permitted"}, {E2BIG, "argument list too long"},
	{ETXTBSY, "text file busy"}, {ELOOP, "too many levels of symbolic links"},
	{ENAMETOOLONG, "file name too long"}, {ENOMEM, "cannot allocate memory"},
	{ENOTDIR, "not a directory"}, {EINVAL, "invalid argument"},
	{EIO, "input/output error"}, {EMFILE, "too many open files"},
	{ENFILE, "too many open files in system"}, {EFAULT, "bad address"},
	{ELIBBAD, "accessing a corrupted shared library"},
};

/*
 * send_reply sends the runtime the Reply (protocol.go), JSON as the Go
 * init's json.Encoder writes it: the workload's pid, or, when its exec
 * failed, the error and exit code execError (init.go) would give.
 */
static int send_reply(int exec_errno)
{
	char buf[1024];
	char *p = buf;
	int code = 0;
	if (!exec_errno) {
		memcpy(p, "{\"pid\":", 7);
		p = fmt_int(p + 7, cfg->pid);
	} else {
		char msg[512];
		char *m = msg;
		const char *text = NULL;
		for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
			if (errnames[i].no == exec_errno)
				text = errnames[i].text;
		switch (exec_errno) {
		case ENOENT:
			code = EXIT_NOT_FOUND;
			break;
		case EACCES:
		case ENOEXEC:
		case EISDIR:
		case EPERM:
			code = EXIT_CANNOT_EXECUTE;
			break;
		default:
			code = EXIT_SETUP_FAILED;
		}
		const char *verb = code == EXIT_SETUP_FAILED ? "starting " : "exec ";
		size_t nn = strlen(cfg->name);
		if (nn > 300)
			nn = 300;
		memcpy(m, verb, strlen(verb));
		m += strlen(verb);
		memcpy(m, cfg->name, nn);
		m += nn;
		*m++ = ':';
		*m++ = ' ';
		if (text) {
			memcpy(m, text, strlen(text));
			m += strlen(text);
		} else {
			memcpy(m, "errno ", 6);
			m = fmt_int(m + 6, exec_errno);
		}
		memcpy(p, "{\"error\":", 9);
		p += 9;
		p += json_string(p, msg, (size_t)(m - msg));
		memcpy(p, ",\"code\":", 8);
		p = fmt_int(p + 8, code);
	}
	*p++ = '}';
	*p++ = '\n';
	(void)write_all(FD_SYNC, buf, (size_t)(p - buf));
	close(FD_SYNC);
	return code;
}

/*
 * release lets the workload exec (the gate waits for it) and learns
 * whether that exec worked: its errno, or 0.
 */
static int release(void)
{
	int e = 0;
	ssize_t n;
	if (write_all(FD_GATE, "x", 1) < 0)
		e = EIO;
	close(FD_GATE);
	set_nonblock(FD_GATE_ERR, 0);
	do
		n = read(FD_GATE_ERR, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(FD_GATE_ERR);
	return n == (ssize_t)sizeof e ? (e ? e : EIO) : 0;
}

static void forget_helper(int pid)
{
	for (int i = 0; i < nhelpers; i++)
		if (helpers[i] == pid) {
			helpers[i] = helpers[--nhelpers];
			return;
		}
}

/* reap collects every exited child; the workload's status is kept. */
static void reap(void)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			return;
		if (p == cfg->pid) {
			wstatus = st;
			workload_done = 1;
		} else
			forget_helper(p);
	}
}

/* resize copies the attached terminal's size to the container's pty. */
static void resize(void)
{
	int fds[2] = {cfg->user_in ? FD_USER_STDIN : -1, cfg->attached ? FD_USER_STDOUT : -1};
	struct winsize ws;
	if (!cfg->tty)
		return;
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0 && ioctl(fds[i], TIOCGWINSZ, &ws) == 0) {
			(void)ioctl(FD_WORKLOAD_STDOUT, TIOCSWINSZ, &ws);
			return;
		}
}

static void on_signals(void)
{
	struct signalfd_siginfo si;
	while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		int sig = (int)si.ssi_signo;
		switch (sig) {
		case SIGCHLD:
			reap();
			break;
		case SIGWINCH:
			resize();
			(void)kill(cfg->pid, sig);
			break;
		case SIGPIPE:
			/* Our own write to a reader that went away. */
			if (si.ssi_code == SI_USER && (pid_t)si.ssi_pid == getpid())
				break;
			/* fallthrough */
		default:
			(void)kill(cfg->pid, sig);
		}
	}
}

/*
 * start_helper runs the Go init binary as the exec server of one
 * connection (containerinit's runExecConn): it reads the request, forks
 * the process into the container's cgroups and security settings, and
 * reaps it. It gets the connection and what forking needs, nothing else:
 * every other fd of ours is close-on-exec.
 */
static void start_helper(int conn)
{
	if (nhelpers == MAX_HELPERS) {
		close(conn);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t none = 0;
		char join[16], leave[16];
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
		if (conn == FD_EXEC_CONN)
			set_cloexec(conn, 0);
		else if (dup2(conn, FD_EXEC_CONN) < 0)
			_exit(EXIT_SETUP_FAILED);
		set_cloexec(FD_EXEC_END, 0);
		set_cloexec(FD_CGROUP_NS, 0);
		set_cloexec(FD_EXEC_SPEC, 0);
		for (int i = 0; i < cfg->join + cfg->leave; i++)
			set_cloexec(FD_JOIN + i, 0);
		*fmt_int(join, cfg->join) = 0;
		*fmt_int(leave, cfg->leave) = 0;
		char *argv[] = {"berth-exec", ARG_EXEC_CONN, join, leave, NULL};
		char *envp[] = {"GOMAXPROCS=1", "GOGC=50", NULL};
		syscall(SYS_execveat, FD_INIT_EXE, "", argv, envp, AT_EMPTY_PATH);
		warn("starting an exec helper", errno);
		_exit(EXIT_SETUP_FAILED);
	}
	if (pid < 0)
		warn("forking an exec helper", errno);
	else
		helpers[nhelpers++] = pid;
	close(conn);
}

static void on_accept(void)
{
	for (;;) {
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (conn >= 0) {
			start_helper(conn);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN) {
			/* Out of fds: let a moment pass rather than spin. */
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		return;
	}
}

static void stdin_read(void)
{
	ssize_t n = read(in.from, in.buf, sizeof in.buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		in.off = 0;
		in.len = (size_t)n;
		return;
	}
	in.from = -1;
	if (in.close_to && in.to >= 0) {
		close(in.to);
		in.to = -1;
	}
}

static void stdin_write(void)
{
	ssize_t n = write(in.to, in.buf + in.off, in.len - in.off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* The workload closed its stdin: the copy ends, as io.Copy does. */
		in.from = -1;
		in.len = 0;
		if (in.close_to) {
			close(in.to);
			in.to = -1;
		}
		return;
	}
	in.off += (size_t)n;
	if (in.off == in.len)
		in.off = in.len = 0;
}

enum { T_SIG, T_LISTEN, T_OUT, T_OUT_USER, T_ERR, T_ERR_USER, T_IN, T_IN_TO };

static void watch_stream(struct pollfd *pf, int *tag, int *n, struct stream *s, int t_read, int t_user)
{
	if (s->ulen > s->uoff && s->user >= 0) {
		pf[*n] = (struct pollfd){.fd = s->user, .events = POLLOUT};
		tag[(*n)++] = t_user;
	} else if (s->fd >= 0) {
		pf[*n] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		tag[(*n)++] = t_read;
	}
}

/* poll_once waits up to timeout ms for anything to do, and does it. */
static void poll_once(int timeout)
{
	struct pollfd pf[8];
	int tag[8], n = 0;
	pf[n] = (struct pollfd){.fd = sfd, .events = POLLIN};
	tag[n++] = T_SIG;
	if (listen_fd >= 0) {
		pf[n] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		tag[n++] = T_LISTEN;
	}
	watch_stream(pf, tag, &n, &out, T_OUT, T_OUT_USER);
	watch_stream(pf, tag, &n, &err, T_ERR, T_ERR_USER);
	if (in.len > 0 && in.to >= 0) {
		pf[n] = (struct pollfd){.fd = in.to, .events = POLLOUT};
		tag[n++] = T_IN_TO;
	} else if (in.from >= 0) {
		pf[n] = (struct pollfd){.fd = in.from, .events = POLLIN};
		tag[n++] = T_IN;
	}
	if (poll(pf, (nfds_t)n, timeout) <= 0)
		return;
	for (int i = 0; i < n; i++) {
		if (!pf[i].revents)
			continue;
		switch (tag[i]) {
		case T_SIG:
			on_signals();
			break;
		case T_LISTEN:
			on_accept();
			break;
		case T_OUT:
			if (stream_read(&out) == 0 && in.to == FD_WORKLOAD_STDOUT) {
				/* The pty is gone: nothing to type into any more. */
				in.to = in.from = -1;
				in.len = 0;
			}
			break;
		case T_ERR:
			(void)stream_read(&err);
			break;
		case T_OUT_USER:
			stream_user_write(&out, 0);
			break;
		case T_ERR_USER:
			stream_user_write(&err, 0);
			break;
		case T_IN:
			stdin_read();
			break;
		case T_IN_TO:
			stdin_write();
			break;
		}
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void setup_io(void)
{
	if (cfg->tty) {
		out.fd = FD_WORKLOAD_STDOUT;
		out.user = cfg->attached ? FD_USER_STDOUT : -1;
		in.from = cfg->user_in ? FD_USER_STDIN : -1;
		in.to = FD_WORKLOAD_STDOUT;
	} else {
		out.fd = FD_WORKLOAD_STDOUT;
		err.fd = FD_WORKLOAD_STDERR;
		out.user = cfg->attached ? FD_USER_STDOUT : -1;
		err.user = cfg->attached ? FD_USER_STDERR : -1;
		if (cfg->stdin_pipe) {
			in.to = FD_WORKLOAD_STDIN;
			in.close_to = 1;
			in.from = cfg->user_in ? FD_USER_STDIN : -1;
			if (in.from < 0) {
				/* Nobody to read from: the workload reads EOF at once. */
				close(in.to);
				in.to = -1;
			} else
				set_nonblock(in.to, 1);
		}
	}
	set_nonblock(out.fd, 1);
	if (err.fd >= 0)
		set_nonblock(err.fd, 1);
	set_nonblock(listen_fd, 1);
}

/*
 * end_container ends what the workload left behind, as supervise() does
 * after the loop: no exec after this; exec helpers kill their processes
 * and send their clients the exit code (137) before the rest of the
 * namespace is killed; every process reaped; every output line logged.
 */
static void end_container(void)
{
	close(listen_fd);
	listen_fd = -1;
	(void)unlinkat(FD_STATE_DIR, "exec.sock", 0);
	close(end_w);
	long long deadline = now_ms() + 1000;
	while (nhelpers > 0) {
		long long left = deadline - now_ms();
		if (left <= 0)
			break;
		poll_once((int)left);
	}
	(void)kill(-1, SIGKILL);
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			break;
	}
	in.from = -1;
	in.len = 0;
	while (out.fd >= 0 || err.fd >= 0 || out.ulen > out.uoff || err.ulen > err.uoff) {
		stream_user_write(&out, 1);
		stream_user_write(&err, 1);
		poll_once(-1);
	}
	log_flush(&out);
	log_flush(&err);
}

int supervise(const struct config *c)
{
	uint64_t all = ~0ULL;
	int ends[2];
	cfg = c;
	sfd = (int)syscall(SYS_signalfd4, -1, &all, 8, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		warn("signalfd", errno);
		return EXIT_SETUP_FAILED;
	}
	int exec_errno = release();
	int code = send_reply(exec_errno);
	listen_fd = FD_EXEC_LISTEN;
	if (exec_errno) {
		(void)unlinkat(FD_STATE_DIR, "exec.sock", 0);
		(void)waitpid(cfg->pid, NULL, 0);
		return code;
	}
	if (pipe2(ends, O_CLOEXEC) == 0) {
		dup3(ends[0], FD_EXEC_END, O_CLOEXEC);
		close(ends[0]);
		end_w = ends[1];
	}
	setup_io();
	reap();
	drop_text();
	while (!workload_done)
		poll_once(-1);
	end_container();
	int sig = 0;
	code = 0;
	if (WIFEXITED(wstatus))
		code = WEXITSTATUS(wstatus);
	else if (WIFSIGNALED(wstatus)) {
		sig = WTERMSIG(wstatus);
		code = 128 + sig;
	}
	write_exit_status(code, sig, cfg->has_oom && oom_kills(FD_OOM) > 0, !cfg->ephemeral && !stop_requested());
	return code;
}
