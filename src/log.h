/*
 * log.h: the only place smtrail writes diagnostics. Under systemd (stderr
 * connected to the journal) lines go to journald with structured fields;
 * otherwise to stderr as "smtrail: level: text". errno is preserved.
 * The _errno forms append strerror(-r) and return r, so a caller can log
 * and fail in one statement. log_ctx adds SMTRAIL_* journal fields (and a
 * " msg=.. event=.. rule=.." suffix on stderr). Untrusted strings should go
 * through log_quote() first. Never pass secrets.
 */
#ifndef SMTRAIL_LOG_H
#define SMTRAIL_LOG_H

#include <stddef.h>

#include "common.h"

enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_NOTICE,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_COUNT
};

struct log_ctx {
	const char *message_id;
	const char *event_id;
	const char *rule;
	const char *bucket;
	const char *key;
};

void log_init(const char *progname, enum log_level max, int use_journal);
void log_set_level(enum log_level max);
enum log_level log_get_level(void);
const char *log_level_str(enum log_level l);
/* Parses "err", "warning", "notice", "info", "debug"; -EINVAL otherwise. */
int log_level_parse(const char *s, enum log_level *ret) MUST_CHECK;
/* True when stderr is the journal (JOURNAL_STREAM matches). */
int log_stderr_is_journal(void);

void log_msg(enum log_level l, const struct log_ctx *ctx, int r,
    const char *fmt, ...) PRINTF_LIKE(4, 5);

#define log_err(...) log_msg(LOG_LEVEL_ERR, NULL, 0, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARNING, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, NULL, 0, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, NULL, 0, __VA_ARGS__)

int log_errno_at(enum log_level l, const struct log_ctx *ctx, int r,
    const char *fmt, ...) PRINTF_LIKE(4, 5);
#define log_err_errno(r, ...) log_errno_at(LOG_LEVEL_ERR, NULL, r, __VA_ARGS__)
#define log_warn_errno(r, ...)                                                 \
	log_errno_at(LOG_LEVEL_WARNING, NULL, r, __VA_ARGS__)
#define log_ctx_err(c, ...) log_msg(LOG_LEVEL_ERR, c, 0, __VA_ARGS__)
#define log_ctx_warn(c, ...) log_msg(LOG_LEVEL_WARNING, c, 0, __VA_ARGS__)
#define log_ctx_info(c, ...) log_msg(LOG_LEVEL_INFO, c, 0, __VA_ARGS__)
#define log_ctx_debug(c, ...) log_msg(LOG_LEVEL_DEBUG, c, 0, __VA_ARGS__)

/*
 * Copies untrusted s into buf for logging: control characters escaped,
 * cut at 200 bytes with "..." appended. Returns buf.
 */
const char *log_quote(const char *s, char *buf, size_t size);

#endif
