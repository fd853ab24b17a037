/*
 * The workload's output: into the json-file log, one entry per line, as
 * the Go init's logWriter (logfile.go) writes it, and to the attached
 * user's terminal.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

/* Most entries are formatted here; longer ones in a mapping of their own. */
static char entry_buf[8192];

/* emit writes one entry, in one write, as logWriter.emit does. */
static void emit(const struct stream *s, const char *line, size_t n)
{
	size_t max = json_string_max(n) + 96;
	char *buf = entry_buf;
	if (max > sizeof entry_buf) {
		buf = mmap(NULL, max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			return;
	}
	char *p = buf;
	memcpy(p, "{\"log\":", 7);
	p += 7;
	p += json_string(p, line, n);
	memcpy(p, ",\"stream\":\"", 11);
	p += 11;
	size_t nl = strlen(s->name);
	memcpy(p, s->name, nl);
	p += nl;
	memcpy(p, "\",\"time\":", 9);
	p = fmt_time(p + 9);
	*p++ = '}';
	*p++ = '\n';
	/* A full disk must not stop the workload: the entry is lost. */
	(void)write_all(FD_LOG, buf, (size_t)(p - buf));
	if (buf != entry_buf)
		munmap(buf, max);
}

/*
 * log_lines logs what buf holds as logWriter.write does: every complete
 * line, in pieces of MAX_LOG_LINE bytes when it is longer, then pieces of
 * MAX_LOG_LINE bytes of what follows the last one; the rest waits for
 * more.
 */
static void log_lines(struct stream *s)
{
	size_t start = 0;
	for (;;) {
		char *nl = memchr(s->buf + start, '\n', s->len - start);
		if (!nl)
			break;
		size_t end = (size_t)(nl - s->buf) + 1;
		while (end - start > MAX_LOG_LINE) {
			emit(s, s->buf + start, MAX_LOG_LINE);
			start += MAX_LOG_LINE;
		}
		emit(s, s->buf + start, end - start);
		start = end;
	}
	while (s->len - start >= MAX_LOG_LINE) {
		emit(s, s->buf + start, MAX_LOG_LINE);
		start += MAX_LOG_LINE;
	}
	if (start) {
		memmove(s->buf, s->buf + start, s->len - start);
		s->len -= start;
	}
}

/* log_flush writes what is left of an unfinished line. */
void log_flush(struct stream *s)
{
	if (s->len > 0)
		emit(s, s->buf, s->len);
	s->len = 0;
}

/*
 * stream_read reads once, at most READ_CHUNK bytes as the Go init's copier
 * does (where lines are cut can depend on it), and logs it. 1: data, 0:
 * the end (EOF, or EIO from a pty whose last slave closed), -1: nothing
 * yet.
 */
int stream_read(struct stream *s)
{
	char *dst = s->user >= 0 ? s->chunk : s->buf + s->len;
	ssize_t n = read(s->fd, dst, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return 0;
	}
	if (s->user >= 0) {
		memcpy(s->buf + s->len, s->chunk, (size_t)n);
		s->uoff = 0;
		s->ulen = (size_t)n;
	}
	s->len += (size_t)n;
	log_lines(s);
	return 1;
}

/*
 * stream_user_write passes the last read on to the user: a piece the user's
 * file takes without blocking (it said POLLOUT; a pipe takes 4 KiB then),
 * or all of it when blocking. The user may have gone away; the log goes on
 * without them.
 */
void stream_user_write(struct stream *s, int blocking)
{
	while (s->user >= 0 && s->uoff < s->ulen) {
		size_t n = s->ulen - s->uoff;
		if (!blocking && n > 4096)
			n = 4096;
		ssize_t w = write(s->user, s->chunk + s->uoff, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && !blocking)
			return;
		if (w <= 0) {
			s->user = -1;
			break;
		}
		s->uoff += (size_t)w;
		if (!blocking && s->uoff < s->ulen)
			return;
	}
	s->uoff = s->ulen = 0;
}
