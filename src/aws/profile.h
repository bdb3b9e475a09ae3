/*
 * profile.h: one profile from the AWS shared files, as the SDKs read them.
 *
 * Files: the credentials file ($AWS_SHARED_CREDENTIALS_FILE, default
 * ~/.aws/credentials; sections "[name]", where "[profile x]" is simply the
 * profile named "profile x") and the config file ($AWS_CONFIG_FILE, default
 * ~/.aws/config; sections "[default]" and "[profile name]", other sections
 * such as "[sso-session x]" are parsed but belong to no profile). A leading
 * "~/" in either variable is $HOME. The profile is the name given, else
 * $AWS_PROFILE, else "default".
 *
 * Syntax (INI, as the SDKs accept it): '#' and ';' start comment lines, and
 * a comment after a section's ']', or after a value when preceded by
 * whitespace ("a#b" is a value); whitespace around '=' is dropped; keys are
 * case-insensitive (profile names are not); an indented line after a
 * property continues it (the config file's nested "s3 =" settings), joined
 * with '\n'; later keys win. For the same profile, the credentials file wins
 * over the config file key by key (the SDK rule).
 *
 * A missing file (or no $HOME) is an empty file, not an error. An unreadable
 * file, one that is not a regular file or device (-EISDIR, -EINVAL), one
 * over PROFILE_MAX_FILE, or a malformed line (a property before any section,
 * no '=', an empty key, an unclosed or empty section name, a NUL byte) is
 * an error: -EBADMSG
 * (malformed, with file:line), -E2BIG, -EACCES and other -errno from open(2)
 * or read(2), -ENOMEM; reterr names the file (and line), never a value.
 * Synchronous (a few small reads); no logging; any thread.
 */
#ifndef SMTRAIL_PROFILE_H
#define SMTRAIL_PROFILE_H

#include <stdbool.h>

#include "common.h"

struct diag;
struct profile; /* opaque */

/* A shared file larger than this is a mistake, not a profile. */
#define PROFILE_MAX_FILE (1u << 20)

enum profile_file {
	PROFILE_FILE_CONFIG,
	PROFILE_FILE_CREDENTIALS,
	PROFILE_FILE_COUNT
};

/* name: NULL for $AWS_PROFILE, else "default". *ret is the caller's. */
int profile_load(const char *name, struct profile **ret,
    struct diag *reterr) MUST_CHECK;
/* Values wiped on free (they may be secret keys). NULL ok. */
void profile_free(struct profile *p);

/* The value of key (any case) in the profile, or NULL. Borrowed. */
const char *profile_get(const struct profile *p, const char *key);
/* The file (path) and line that gave key its value, or NULL. */
const char *profile_where(const struct profile *p, const char *key,
    unsigned *ret_line);
/* The profile's name, as selected. */
const char *profile_name(const struct profile *p);
/* Whether the name came from the caller or $AWS_PROFILE (not the default). */
bool profile_explicit(const struct profile *p);
/* Whether either file has a section for the profile (even an empty one). */
bool profile_found(const struct profile *p);
/* The path used for a file ("" when there was none: no $HOME). */
const char *profile_path(const struct profile *p, enum profile_file f);
/* "config", "credentials". */
const char *profile_file_str(enum profile_file f);

#endif
