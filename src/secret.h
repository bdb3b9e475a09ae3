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
 */
#ifndef SMTRAIL_SECRET_H
#define SMTRAIL_SECRET_H

#include <stddef.h>

#include "common.h"

struct diag;
struct secret; /* opaque */

/* A URL or a key; a file larger than this is the wrong file. */
#define SECRET_MAX_FILE (64u << 10)

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

#endif
