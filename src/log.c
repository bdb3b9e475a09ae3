/*
 * log.c: see log.h. The one module (with main.c) allowed to write to stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_LINE_MAX 2048
#define LOG_QUOTE_MAX 200

static const char *log_progname = "smtrail";
static enum log_level log_max = LOG_LEVEL_NOTICE;
static int log_journal;

static const int log_syslog_prio[LOG_LEVEL_COUNT] = {LOG_ERR, LOG_WARNING,
    LOG_NOTICE, LOG_INFO, LOG_DEBUG};

const char *
log_level_str(enum log_level l)
{
	switch (l) {
	case LOG_LEVEL_ERR:
		return "err";
	case LOG_LEVEL_WARNING:
		return "warning";
	case LOG_LEVEL_NOTICE:
		return "notice";
	case LOG_LEVEL_INFO:
		return "info";
	case LOG_LEVEL_DEBUG:
		return "debug";
	case LOG_LEVEL_COUNT:
		break;
	}
	return "?";
}

int
log_level_parse(const char *s, enum log_level *ret)
{
	int l;

	for (l = 0; l < LOG_LEVEL_COUNT; l++) {
		if (strcmp(s, log_level_str((enum log_level)l)) == 0) {
			*ret = (enum log_level)l;
			return 0;
		}
	}
	if (strcmp(s, "error") == 0) {
		*ret = LOG_LEVEL_ERR;
		return 0;
	}
	if (strcmp(s, "warn") == 0) {
		*ret = LOG_LEVEL_WARNING;
		return 0;
	}
	return -EINVAL;
}

int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev;
	unsigned long long ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, enum log_level max, int use_journal)
{
	if (progname != NULL)
		log_progname = progname;
	log_max = max;
	log_journal = use_journal;
}

void
log_set_level(enum log_level max)
{
	log_max = max;
}

enum log_level
log_get_level(void)
{
	return log_max;
}

const char *
log_quote(const char *s, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	size_t i;

	if (size == 0)
		return buf;
	if (s == NULL)
		s = "(null)";
	for (i = 0; s[i] != '\0' && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == LOG_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void
log_ctx_suffix(const struct log_ctx *ctx, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	if (ctx == NULL)
		return;
#define LOG_SUFFIX(field, name)                                                \
	if (ctx->field != NULL && n < size)                                    \
		n += (size_t)snprintf(buf + n, size - n, " " name "=%s",       \
		    ctx->field);
	LOG_SUFFIX(message_id, "msg")
	LOG_SUFFIX(bucket, "bucket")
	LOG_SUFFIX(key, "key")
	LOG_SUFFIX(event_id, "event")
	LOG_SUFFIX(rule, "rule")
#undef LOG_SUFFIX
}

static void
log_emit(enum log_level l, const struct log_ctx *ctx, const char *text)
{
	char suffix[512];

	if (log_journal) {
		const struct log_ctx none = {0};

		if (ctx == NULL)
			ctx = &none;
		(void)sd_journal_send("MESSAGE=%s", text, "PRIORITY=%d",
		    log_syslog_prio[l], "SYSLOG_IDENTIFIER=%s", log_progname,
		    "SMTRAIL_MESSAGE_ID=%s",
		    ctx->message_id ? ctx->message_id : "",
		    "SMTRAIL_EVENT_ID=%s", ctx->event_id ? ctx->event_id : "",
		    "SMTRAIL_RULE=%s", ctx->rule ? ctx->rule : "",
		    "SMTRAIL_BUCKET=%s", ctx->bucket ? ctx->bucket : "",
		    "SMTRAIL_KEY=%s", ctx->key ? ctx->key : "", NULL);
		return;
	}
	log_ctx_suffix(ctx, suffix, sizeof(suffix));
	(void)fprintf(stderr, "%s: %s: %s%s\n", log_progname, log_level_str(l),
	    text, suffix);
}

static void
log_vmsg(enum log_level l, const struct log_ctx *ctx, int r, const char *fmt,
    va_list ap)
{
	char text[LOG_LINE_MAX];
	int saved = errno;
	int n;

	if (l > log_max) {
		errno = saved;
		return;
	}
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (r < 0 && n >= 0 && (size_t)n < sizeof(text))
		(void)snprintf(text + n, sizeof(text) - (size_t)n, ": %s",
		    strerror(-r));
	log_emit(l, ctx, text);
	errno = saved;
}

void
log_msg(enum log_level l, const struct log_ctx *ctx, int r, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(l, ctx, r, fmt, ap);
	va_end(ap);
}

int
log_errno_at(enum log_level l, const struct log_ctx *ctx, int r,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(l, ctx, r, fmt, ap);
	va_end(ap);
	return r;
}
