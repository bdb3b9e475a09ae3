/*
 * secret.c: see secret.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
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

bool
secret_readable_by(const struct stat *st, const struct secret_reader *r)
{
	size_t i;

	if (r->uid == 0 || (st->st_mode & S_IROTH) != 0)
		return true;
	if (st->st_uid == r->uid)
		return (st->st_mode & S_IRUSR) != 0;
	for (i = 0; i < r->n_gids; i++)
		if (st->st_gid == r->gids[i])
			return (st->st_mode & S_IRGRP) != 0;
	return false;
}

bool
secret_root_only(const struct stat *st)
{
	if ((st->st_mode & S_IROTH) != 0)
		return false;
	if (st->st_uid != 0 && (st->st_mode & S_IRUSR) != 0)
		return false;
	return st->st_gid == 0 || (st->st_mode & S_IRGRP) == 0;
}

/*
 * OpenSMTPD's check_file_secrecy(), with group read allowed: owned by root
 * or by us (as, else this process), nothing for others, no group write;
 * and, for another user, readable by it.
 */
static int
secret_check_file(const struct stat *st, const char *path,
    const struct secret_reader *as, struct diag *reterr)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	uid_t us = as != NULL ? as->uid : geteuid();

	if (!S_ISREG(st->st_mode))
		return diag_set(reterr, -EINVAL, path, 0, 0,
		    "not a regular file");
	/* SECRET_ANY_UID: whoever owns it may be the reader. */
	if (us != SECRET_ANY_UID && st->st_uid != 0 && st->st_uid != us &&
	    as == NULL)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "owned by uid %u, neither root nor uid %u",
		    (unsigned)st->st_uid, (unsigned)us);
	if (us != SECRET_ANY_UID && st->st_uid != 0 && st->st_uid != us)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "owned by uid %u, neither root nor %s",
		    (unsigned)st->st_uid, as->name);
	if ((st->st_mode & S_IRWXO) != 0)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "open to others (mode %04o; chmod o-rwx it)", mode);
	if ((st->st_mode & S_IWGRP) != 0)
		return diag_set(reterr, -EPERM, path, 0, 0,
		    "writable by its group (mode %04o; chmod g-w it)", mode);
	if (as != NULL && us != SECRET_ANY_UID && !secret_readable_by(st, as))
		return diag_set(reterr, -EACCES, path, 0, 0,
		    "not readable by %s: owner uid %u, group %u, mode %04o",
		    as->name, (unsigned)st->st_uid, (unsigned)st->st_gid, mode);
	return 0;
}

int
secret_reader_user(const char *user, struct secret_reader *ret,
    struct diag *reterr)
{
	struct secret_reader rd;
	struct passwd pw;
	struct passwd *pp = NULL;
	char buf[4096];
	gid_t gids[SECRET_MAX_GROUPS];
	unsigned long v = 0;
	size_t i;
	int n = SECRET_MAX_GROUPS;
	int r;

	memset(&rd, 0, sizeof(rd));
	for (i = 0; user[i] >= '0' && user[i] <= '9' && i < 10; i++)
		v = v * 10 + (unsigned long)(user[i] - '0');
	if (user[0] == '\0' || (i > 0 && (user[i] != '\0' || v >= UINT32_MAX)))
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "bad user '%.64s' (expected a user name or a uid)", user);
	if (i > 0)
		r = getpwuid_r((uid_t)v, &pw, buf, sizeof(buf), &pp);
	else
		r = getpwnam_r(user, &pw, buf, sizeof(buf), &pp);
	if (r != 0)
		return diag_set(reterr, -r, NULL, 0, 0, "user '%.64s': %s",
		    user, strerror(r));
	if (pp == NULL && i == 0)
		return diag_set(reterr, -ENOENT, NULL, 0, 0,
		    "no user '%.64s' (a DynamicUser= exists only while its "
		    "service runs: give its uid)",
		    user);
	if (pp == NULL) {
		/* DynamicUser=: the group has the user's number. */
		rd.uid = (uid_t)v;
		rd.gids[rd.n_gids++] = (gid_t)v;
		(void)snprintf(rd.name, sizeof(rd.name), "uid %lu", v);
		*ret = rd;
		return 0;
	}
	rd.uid = pp->pw_uid;
	(void)snprintf(rd.name, sizeof(rd.name), "user '%.32s' (uid %u)",
	    pp->pw_name, (unsigned)pp->pw_uid);
	if (getgrouplist(pp->pw_name, pp->pw_gid, gids, &n) < 0)
		n = SECRET_MAX_GROUPS; /* more: the first ones */
	rd.gids[rd.n_gids++] = pp->pw_gid;
	for (i = 0; i < (size_t)n && rd.n_gids < SECRET_MAX_GROUPS; i++)
		if (gids[i] != pp->pw_gid)
			rd.gids[rd.n_gids++] = gids[i];
	*ret = rd;
	return 0;
}

int
secret_read_file(const char *path, size_t max, struct secret **ret,
    struct diag *reterr)
{
	return secret_read_file_as(path, max, NULL, ret, NULL, reterr);
}

int
secret_read_file_as(const char *path, size_t max,
    const struct secret_reader *as, struct secret **ret, struct stat *ret_st,
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
	r = secret_check_file(&st, path, as, reterr);
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
	if (ret_st != NULL)
		*ret_st = st;
	r = 0;
out:
	explicit_bzero(buf, max + 1);
	free(buf);
	(void)close(fd);
	return r;
}
