/*
 * secret.c: see secret.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "secret.h"

struct secret {
	size_t len;
	char v[]; /* len bytes and a NUL */
};

struct secret *
secret_new(const void *p, size_t len)
{
	struct secret *s;

	if (len > SIZE_MAX - sizeof(*s) - 1)
		return NULL;
	s = malloc(sizeof(*s) + len + 1);
	if (s == NULL)
		return NULL;
	s->len = len;
	if (len > 0)
		memcpy(s->v, p, len);
	s->v[len] = '\0';
	return s;
}

const char *
secret_value(const struct secret *s)
{
	return s != NULL ? s->v : NULL;
}

size_t
secret_len(const struct secret *s)
{
	return s != NULL ? s->len : 0;
}

void
secret_free(struct secret *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, sizeof(*s) + s->len + 1);
	free(s);
}

/*
 * OpenSMTPD's check_file_secrecy(), with group read allowed: owned by root
 * or by us, nothing for others, no group write.
 */
static int
secret_check_file(const struct stat *st, const char *path, struct diag *reterr)
{
	unsigned mode = (unsigned)st->st_mode & 07777;

	if (!S_ISREG(st->st_mode))
		return diag_set(reterr, -EINVAL, path, 0, 0,
		    "not a regular file");
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "owned by uid %u, neither root nor uid %u",
		    (unsigned)st->st_uid, (unsigned)geteuid());
	if ((st->st_mode & S_IRWXO) != 0)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "open to others (mode %04o; chmod o-rwx it)", mode);
	if ((st->st_mode & S_IWGRP) != 0)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "writable by its group (mode %04o; chmod g-w it)", mode);
	return 0;
}

int
secret_read_file(const char *path, size_t max, struct secret **ret,
    struct diag *reterr)
{
	struct secret *s;
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd;
	int r;

	/* O_NONBLOCK: a FIFO must not hang us before fstat() says no. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		return diag_set(reterr, r, path, 0, 0, "%s", strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)close(fd);
		return diag_set(reterr, r, path, 0, 0, "%s", strerror(-r));
	}
	r = secret_check_file(&st, path, reterr);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		(void)close(fd);
		return diag_set(reterr, -ENOMEM, path, 0, 0, "out of memory");
	}
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = diag_set(reterr, -errno, path, 0, 0, "%s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = diag_set(reterr, -E2BIG, path, 0, 0,
		    "larger than %zu bytes", max);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		r = diag_set(reterr, -EINVAL, path, 0, 0, "empty");
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		r = diag_set(reterr, -EINVAL, path, 0, 0, "holds a NUL byte");
		goto out;
	}
	s = secret_new(buf, len);
	if (s == NULL) {
		r = diag_set(reterr, -ENOMEM, path, 0, 0, "out of memory");
		goto out;
	}
	*ret = s;
	r = 0;
out:
	explicit_bzero(buf, max + 1);
	free(buf);
	(void)close(fd);
	return r;
}
