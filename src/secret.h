/*
 * secret.h: a secret value (a webhook or Slack URL, an HMAC key, a
 * PagerDuty routing key) kept where it is hard to leak: opaque, copied in,
 * NUL-terminated, and wiped with explicit_bzero() when freed. Never log or
 * quote secret_value(): name the setting and where it came from instead.
 *
 * secret_read_file() reads one from a file and refuses a file that others
 * may read or anyone but its owner may change (OpenSMTPD's
 * check_file_secrecy(); group read is allowed, for a service group):
 * -EPERM. -E2BIG over max, -EINVAL empty or holding a NUL, -ENOENT,
 * -EACCES... when it cannot be read. reterr names the file and why, never
 * the content. Loop-safe only at start-up and reload: it reads the disk.
 *
 * smtrail check reads them on behalf of the service's user (--as-user): a
 * struct secret_reader names that user and its groups, and
 * secret_read_file_as() applies the same rules with that user as "us" and
 * also wants the file readable by it (-EACCES otherwise). The user is
 * looked up through NSS (secret_reader_user()), which may block: never
 * in the daemon.
 */
#ifndef SMTRAIL_SECRET_H
#define SMTRAIL_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common.h"

struct diag;
struct stat;
struct secret; /* opaque */

/* A URL or a key; a file larger than this is the wrong file. */
#define SECRET_MAX_FILE (64u << 10)
/* Groups of a secret_reader, at most (more are not looked at). */
#define SECRET_MAX_GROUPS 64

/* Who will read a secret file: a user and its groups (primary first).
 * uid SECRET_ANY_UID: a user not known (check run as root without
 * --as-user): any owner will do, and readability is not judged. */
#define SECRET_ANY_UID ((uid_t)-1)
struct secret_reader {
	uid_t uid;
	gid_t gids[SECRET_MAX_GROUPS];
	size_t n_gids;
	char name[64]; /* for messages: "user 'smtrail' (uid 998)" */
};

/* A copy of p (len bytes); NULL only when out of memory. */
struct secret *secret_new(const void *p, size_t len);
/* NUL-terminated; borrowed until secret_free(). NULL for a NULL secret. */
const char *secret_value(const struct secret *s);
size_t secret_len(const struct secret *s); /* 0 for NULL */
void secret_free(struct secret *s);        /* wipes; NULL ok */

/*
 * The content of path, one trailing newline ("\n" or "\r\n") removed. On
 * failure reterr (NULL allowed) holds the path in file and the reason in
 * msg, without line or column.
 */
int secret_read_file(const char *path, size_t max, struct secret **ret,
    struct diag *reterr) MUST_CHECK;

/*
 * Same, as read by as (NULL: this process): owned by root or as->uid, and
 * readable by as (its uid, else one of its groups; uid 0 reads anything),
 * else -EACCES naming the user and the file's owner, group and mode. The
 * file's status goes to *ret_st (NULL allowed) on success.
 */
int secret_read_file_as(const char *path, size_t max,
    const struct secret_reader *as, struct secret **ret, struct stat *ret_st,
    struct diag *reterr) MUST_CHECK;

/*
 * The reader for user: a name (its passwd entry, its groups by
 * getgrouplist()) or a number (that uid; without a passwd entry, the
 * group of the same number: a systemd DynamicUser's). -ENOENT no such
 * user name, -EINVAL a bad one; reterr says which.
 */
int secret_reader_user(const char *user, struct secret_reader *ret,
    struct diag *reterr) MUST_CHECK;

/* Whether the permission bits let r read a file of this owner, group and
 * mode (uid 0 reads anything). */
bool secret_readable_by(const struct stat *st, const struct secret_reader *r);

/* Whether no user but root may read it: neither a non-root owner nor a
 * non-root group has read access, nor others. */
bool secret_root_only(const struct stat *st);

#endif
