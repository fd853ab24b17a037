/* Small helpers: no stdio, so the static binary stays small. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim.h"

/* write_all writes all of buf, retrying short writes; 0 or -1 (errno). */
int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * warn writes "berth-shim: msg[: strerror]" to stderr, the container's
 * init.log, for whoever debugs a container that went wrong.
 */
void warn(const char *msg, int err)
{
	char buf[256];
	char *p = buf;
	const char *parts[3] = {"berth-shim: ", msg, err ? ": " : ""};
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(parts[i]);
		if (n > (size_t)(buf + sizeof buf - 64 - p))
			n = (size_t)(buf + sizeof buf - 64 - p);
		memcpy(p, parts[i], n);
		p += n;
	}
	if (err) {
		p = fmt_int(p, err);
		memcpy(p, " (errno)", 8);
		p += 8;
	}
	*p++ = '\n';
	(void)write_all(2, buf, (size_t)(p - buf));
}

/* fmt_int writes v in decimal at p and returns the end. */
char *fmt_int(char *p, long long v)
{
	char tmp[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*p++ = '-';
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* parse_int reads a non-negative decimal; 0, or -1 if s is not one. */
int parse_int(const char *s, int *out)
{
	long v = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = (int)v;
	return 0;
}

/*
 * drop_text gives back the resident pages of our read-only segments (code,
 * read-only data), as the Go init's shrink() does: most of a static libc
 * is never run again once the container runs, and a page that is faults
 * back in from the page cache, shared by every container's shim. Writable
 * segments are left alone: there a private copy may be the only one.
 */
void drop_text(void)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	long pagesz = sysconf(_SC_PAGESIZE);
	if (!ph || pagesz <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W))
			continue;
		uintptr_t start = (bias + ph[i].p_vaddr) & ~(uintptr_t)(pagesz - 1);
		uintptr_t end = (bias + ph[i].p_vaddr + ph[i].p_memsz + (uintptr_t)pagesz - 1) & ~(uintptr_t)(pagesz - 1);
		(void)madvise((void *)start, end - start, MADV_DONTNEED);
	}
}

void set_cloexec(int fd, int on)
{
	(void)fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}
