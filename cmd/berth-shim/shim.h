/*
 * berth-shim: the supervisor a container's init hands over to once the
 * workload runs, so the container's PID 1 costs a small C program's memory
 * instead of a Go runtime's. See runtime/containerinit/doc.go ("The shim")
 * for the design; this header holds what the files here share.
 *
 * The fd numbers below are those of runtime/containerinit/protocol.go;
 * TestShimFdsMatchProtocol (containerinit) checks that they agree.
 */
#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* fds of PID 1, inherited from the Go init (protocol.go) */
#define FD_SYNC 3             /* the runtime's socket: the shim sends the Reply */
#define FD_INIT_EXE 4         /* the sealed init binary, for exec helpers */
#define FD_SHIM_EXE 5         /* the sealed shim binary (the Go init's; closed here) */
/* In the container's directory when berth asked for the exit (StopFile). */
#define STOP_FILE "stop-requested"
#define FD_STATE_DIR 100      /* the container's directory: exit.json, exec.sock */
#define FD_LOG 101            /* the json-file log, O_APPEND */
#define FD_OOM 102            /* the cgroup file counting OOM kills */
#define FD_USER_STDIN 103     /* the attached user's files */
#define FD_USER_STDOUT 104
#define FD_USER_STDERR 105
#define FD_JOIN 106           /* join + leave cgroup files, for exec helpers */
#define FD_EXEC_LISTEN 120    /* the exec socket, listening */
#define FD_CGROUP_NS 121      /* the workload's cgroup namespace, for exec helpers */
#define FD_EXEC_SPEC 122      /* memfd: the container's user, env, dir, for exec helpers */
#define FD_WORKLOAD_STDIN 123 /* write end of the workload's stdin pipe */
#define FD_WORKLOAD_STDOUT 124 /* read end of its stdout pipe, or the pty master */
#define FD_WORKLOAD_STDERR 125 /* read end of its stderr pipe */
#define FD_GATE 126           /* a byte here lets the workload exec */
#define FD_GATE_ERR 127       /* the gate's errno if its exec failed; EOF if not */
#define FD_EXEC_CONN 128      /* in an exec helper: its connection */
#define FD_EXEC_END 129       /* in an exec helper: EOF when the container ends */

/* fds of the gate process (the workload before its exec) */
#define GATE_FD_EXE 3
#define GATE_FD_WAIT 4
#define GATE_FD_ERR 5

/* argv[1] of each mode, as protocol.go's ShimSupervise, ShimGate, ExecConnArg */
#define ARG_SUPERVISE "supervise"
#define ARG_GATE "gate"
#define ARG_EXEC_CONN "__berth_exec_conn"

/* Exit codes, as containerinit's. */
#define EXIT_SETUP_FAILED 125
#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127

/* util.c */
int write_all(int fd, const void *buf, size_t n);
void warn(const char *msg, int err);
char *fmt_int(char *p, long long v);
int parse_int(const char *s, int *out);
void set_cloexec(int fd, int on);
void drop_text(void);
void set_nonblock(int fd, int on);

/* json.c */
size_t json_string(char *dst, const char *s, size_t n);
size_t json_string_max(size_t n);
char *fmt_time(char *p);
void write_exit_status(int code, int sig, int oom_killed, int durable);
int stop_requested(void);
int oom_kills(int fd);

/* log.c */
#define MAX_LOG_LINE 16384
#define READ_CHUNK 8192
struct stream {
	const char *name;       /* "stdout" or "stderr" */
	int fd;                 /* the workload's side; -1 at EOF */
	int user;               /* the attached user's file, or -1 */
	size_t len;             /* partial line in buf */
	size_t uoff, ulen;      /* chunk[uoff:ulen] still to go to the user */
	char chunk[READ_CHUNK]; /* the last read, for the user */
	char buf[MAX_LOG_LINE + READ_CHUNK];
};
void log_write(struct stream *s, const char *data, size_t n);
void log_flush(struct stream *s);
int stream_read(struct stream *s);
void stream_user_write(struct stream *s, int blocking);

/* supervise.c */
struct config {
	int pid;       /* the workload's (the gate's) */
	int join;      /* cgroup files at FD_JOIN the helper writes to fork */
	int leave;     /* and those after them */
	int ephemeral; /* no fsync of exit.json */
	int has_oom;   /* FD_OOM is open */
	int tty;       /* FD_WORKLOAD_STDOUT is a pty master */
	int attached;  /* FD_USER_STDOUT and FD_USER_STDERR are open */
	int user_in;   /* FD_USER_STDIN is open */
	int stdin_pipe; /* FD_WORKLOAD_STDIN is open */
	const char *name; /* the command, as Go's %q quotes it, for errors */
};
int supervise(const struct config *c);

#endif
