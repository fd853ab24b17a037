/*
 * What the shim writes in JSON, byte for byte as the Go init's
 * encoding/json (json.Marshal) writes it: log entries, exit.json and the
 * Reply. TestLogs_EncodedAsGoDoes (runtime) holds the two to each other.
 */
#include <fcntl.h>
#include <stdio.h> /* renameat; nothing of stdio is used */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

static const char hex[] = "0123456789abcdef";

/* json_string_max is the most bytes json_string writes for n input bytes. */
size_t json_string_max(size_t n)
{
	return 6 * n + 2;
}

/*
 * utf8_len is the length of the valid UTF-8 sequence at s (of n bytes), as
 * Go's utf8.DecodeRune accepts it (no overlongs, no surrogates, nothing
 * above U+10FFFF), or 0 when it is not one.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char b = s[0], lo = 0x80, hi = 0xbf;
	size_t need;
	if (b >= 0xc2 && b <= 0xdf)
		need = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		need = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/*
 * json_string writes s as a JSON string, quotes included, escaped as
 * encoding/json does with HTML escaping on: <, > and & as \u003c..., the
 * short escapes \b \f \n \r \t, other control bytes as \u00XX, each byte
 * of invalid UTF-8 as \ufffd, and U+2028 and U+2029 escaped.
 */
size_t json_string(char *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	char *p = dst;
	*p++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char b = s[i];
		if (b < 0x80) {
			i++;
			if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
				*p++ = (char)b;
				continue;
			}
			*p++ = '\\';
			switch (b) {
			case '"':
			case '\\':
				*p++ = (char)b;
				break;
			case '\b':
				*p++ = 'b';
				break;
			case '\f':
				*p++ = 'f';
				break;
			case '\n':
				*p++ = 'n';
				break;
			case '\r':
				*p++ = 'r';
				break;
			case '\t':
				*p++ = 't';
				break;
			default:
				memcpy(p, "u00", 3);
				p[3] = hex[b >> 4];
				p[4] = hex[b & 0xf];
				p += 5;
			}
			continue;
		}
		size_t size = utf8_len(s + i, n - i);
		if (size == 0) {
			memcpy(p, "\\ufffd", 6);
			p += 6;
			i++;
			continue;
		}
		/* U+2028 and U+2029: e2 80 a8, e2 80 a9 */
		if (size == 3 && b == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			memcpy(p, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			p += 6;
			i += 3;
			continue;
		}
		memcpy(p, s + i, size);
		p += size;
		i += size;
	}
	*p++ = '"';
	return (size_t)(p - dst);
}

static char *two(char *p, int v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/*
 * fmt_time writes the time now in UTC as Go's time.Time marshals it
 * (RFC 3339 with nanoseconds, trailing zeros dropped), quotes included.
 * The date is worked out here rather than with gmtime_r, which would read
 * the container's /etc/localtime on its first call.
 */
char *fmt_time(char *p)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long secs = ts.tv_sec;
	long long days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	/* civil_from_days (H. Hinnant): days since 1970-01-01 to y-m-d */
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long y = yoe + era * 400;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	if (m <= 2)
		y++;
	*p++ = '"';
	p = two(p, (int)(y / 100));
	p = two(p, (int)(y % 100));
	*p++ = '-';
	p = two(p, m);
	*p++ = '-';
	p = two(p, d);
	*p++ = 'T';
	p = two(p, (int)(rem / 3600));
	*p++ = ':';
	p = two(p, (int)(rem / 60 % 60));
	*p++ = ':';
	p = two(p, (int)(rem % 60));
	if (ts.tv_nsec) {
		char frac[9];
		long ns = ts.tv_nsec;
		for (int i = 8; i >= 0; i--, ns /= 10)
			frac[i] = (char)('0' + ns % 10);
		int n = 9;
		while (frac[n - 1] == '0')
			n--;
		*p++ = '.';
		memcpy(p, frac, (size_t)n);
		p += n;
	}
	memcpy(p, "Z\"", 2);
	return p + 2;
}

/*
 * write_exit_status stores exit.json through FD_STATE_DIR as the Go init's
 * writeExitStatus does: {"exitCode":N[,"signal":N][,"oomKilled":true],
 * "finishedAt":"..."} into exit.json.tmp, fsync when durable, rename.
 */
/*
 * stop_requested reports whether berth asked for this exit (berth stop,
 * down, a rolling update: runtime's MarkStopping leaves STOP_FILE in the
 * container's directory before it signals). Such an exit is recorded
 * without fsync: whoever asked is waiting to read it at once and most
 * often removes the container next, and the fsync, some 40 ms on a busy
 * disk, stood between the signal and every down's end.
 */
int stop_requested(void)
{
	return faccessat(FD_STATE_DIR, STOP_FILE, F_OK, 0) == 0;
}

void write_exit_status(int code, int sig, int oom_killed, int durable)
{
	char buf[160];
	char *p = buf;
	memcpy(p, "{\"exitCode\":", 12);
	p = fmt_int(p + 12, code);
	if (sig) {
		memcpy(p, ",\"signal\":", 10);
		p = fmt_int(p + 10, sig);
	}
	if (oom_killed) {
		memcpy(p, ",\"oomKilled\":true", 17);
		p += 17;
	}
	memcpy(p, ",\"finishedAt\":", 14);
	p = fmt_time(p + 14);
	*p++ = '}';
	int fd = openat(FD_STATE_DIR, "exit.json.tmp", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	int werr = write_all(fd, buf, (size_t)(p - buf));
	int serr = durable ? fsync(fd) : 0;
	close(fd);
	if (werr || serr)
		return;
	(void)renameat(FD_STATE_DIR, "exit.json.tmp", FD_STATE_DIR, "exit.json");
}

/* oom_kills reads the "oom_kill N" line of memory.oom_control (v1) or memory.events (v2). */
int oom_kills(int fd)
{
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (char *line = buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strncmp(line, "oom_kill ", 9) == 0) {
			int v = 0;
			char *q = line + 9;
			while (*q == ' ' || *q == '\t')
				q++;
			while (*q >= '0' && *q <= '9')
				v = v * 10 + (*q++ - '0');
			return v;
		}
		line = next;
	}
	return 0;
}
