/*
 * journal.h: the mechanics of an append-only JSON-lines journal in the
 * state directory, shared by spool.c and incident.c; what a line means is
 * theirs.
 *
 * One file, <dir>/<name>, created 0600, held under an exclusive flock(2)
 * from journal_open() to journal_done(): a second process gets -EBUSY.
 * journal_replay() hands every whole line to a callback; bytes after the
 * last '\n' are a torn append (a crash mid-write(2)): cut off, made
 * durable, counted in torn_tail.
 *
 * Appends: whole lines, one write(2) (continued only after a short write).
 * A failed append is cut back off, so the next one does not land after
 * half a line; a line is durable once journal_sync() returns >= 0. If the
 * cut fails, or a sync fails (the kernel may have dropped the dirty pages
 * and cleared the error), the journal is broken: every later append and
 * sync fails with that code, and so should the caller's calls.
 *
 * Compaction writes <name>.tmp (locked before the rename, so a second
 * process never finds an unlocked journal), fsyncs it, renames it over the
 * journal and fsyncs the directory; a .tmp left by a crash is removed at
 * open. Errors are -errno from the system; only open and replay fill a
 * diag. Blocking disk I/O; loop thread only; never prints.
 *
 * Lines are JSON objects; one may end with JOURNAL_ALERT_FIELD, an alert
 * kept byte for byte as text (what sinks get), always the last field.
 * journal_parse_line() splits such a line and parses the rest; the
 * journal_get_*() helpers read its fields: false (NULL) for a field that
 * is missing, of another type or out of range, so a caller can say which.
 */
#ifndef SMTRAIL_JOURNAL_H
#define SMTRAIL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"

struct diag;
struct json_object;
struct json_tokener;

/* The last field of a line that carries an alert. */
#define JOURNAL_ALERT_FIELD ",\"alert\":"

/* Embedded by its owner, who may read (not write) the fields. */
struct journal {
	int dirfd;
	int fd;
	char *path; /* <dir>/<name>, for diagnostics */
	char *name;
	char *tmp;          /* <name>.tmp */
	uint64_t size;      /* bytes, whole lines only */
	uint64_t unsynced;  /* lines written since the last sync */
	int broken;         /* < 0: every append and sync fails with this */
	uint64_t torn_tail; /* torn last lines cut off at open (0 or 1) */
	bool read_only;     /* journal_open_ro(): never written, not locked */
	/* During journal_replay(): the line being handed over. */
	uint64_t off;
	unsigned lineno;
};

/* A compaction in progress: add whole lines to out, then call
 * journal_rewrite_flush(); pos counts the bytes already written. */
struct journal_rewrite {
	int fd;
	uint64_t pos;
	struct buf out;
};

/* A line as journal_parse_line() splits it. */
struct journal_line {
	struct json_object *hdr; /* every field but the alert: put it */
	const char *alert;       /* the alert's text, in the line; NULL: none */
	size_t alert_len;
};

/* Called with each line, '\n' excluded (never empty, no NUL, shorter than
 * max_line); a negative return stops the replay and is returned. */
typedef int journal_line_cb(const char *line, size_t len, void *arg);

/* Sets j up empty, so that journal_done() is safe. Cannot fail. */
void journal_init(struct journal *j);
/*
 * Opens (creating 0600 if absent) and locks dir/name; dir must exist.
 * -EBUSY: another process holds it (or replaced it meanwhile).
 */
int journal_open(struct journal *j, const char *dir, const char *name,
    struct diag *reterr) MUST_CHECK;
/*
 * Opens dir/name to read it only, without the lock, while its owner may be
 * writing it (smtrail spool list): replay sees the whole lines written so
 * far, a partial last one is left alone (an append in progress, or torn:
 * the owner cuts it), appends and syncs fail with -EROFS. -ENOENT: no
 * such journal (nothing is created).
 */
int journal_open_ro(struct journal *j, const char *dir, const char *name,
    struct diag *reterr) MUST_CHECK;
/* Reads the whole journal; -EBADMSG for an empty, over-long or NUL line
 * (reterr as journal_bad() says), or whatever cb returns. */
int journal_replay(struct journal *j, size_t max_line, journal_line_cb *cb,
    void *arg, struct diag *reterr) MUST_CHECK;
/* -EBADMSG, reterr: the journal, the line and its byte offset, and why. */
int journal_bad(const struct journal *j, struct diag *reterr, const char *why);
void journal_done(struct journal *j); /* closes; does not sync */

/* Appends len bytes holding n whole lines. */
int journal_append(struct journal *j, const char *p, size_t len,
    size_t n) MUST_CHECK;
/* fdatasync(2) if anything was appended since; >= 0: the lines made
 * durable. */
int journal_sync(struct journal *j) MUST_CHECK;

/* Empties a line buffer, freeing its memory if it grew past a chunk. */
void journal_buf_reset(struct buf *b);

/* One whole JSON object, nothing after it, into *ret (ret NULL: checked,
 * not kept); -EBADMSG otherwise. */
int journal_parse_object(struct json_tokener *tok, const char *s, size_t len,
    struct json_object **ret) MUST_CHECK;
/*
 * Splits line (len bytes, from journal_replay()) at JOURNAL_ALERT_FIELD,
 * which must then be last and hold one object, after at most max_header
 * bytes; parses the rest, copied into hdr (its ceiling: "header too
 * long"). -EBADMSG (reterr as journal_bad() says) or -ENOMEM; ret is set
 * on success.
 */
int journal_parse_line(const struct journal *j, struct json_tokener *tok,
    struct buf *hdr, size_t max_header, const char *line, size_t len,
    struct journal_line *ret, struct diag *reterr) MUST_CHECK;
/* An integer field from min to INT64_MAX - 1. */
bool journal_get_int(struct json_object *o, const char *name, int64_t min,
    int64_t *ret);
bool journal_get_bool(struct json_object *o, const char *name, bool *ret);
/* A string of 1 to max bytes, without NUL (v NULL: none); borrowed. */
const char *journal_str(struct json_object *v, size_t max, size_t *ret_len);
const char *journal_get_str(struct json_object *o, const char *name, size_t max,
    size_t *ret_len);

/* Creates and locks <name>.tmp; out takes max_batch bytes between
 * flushes. */
int journal_rewrite_begin(struct journal *j, struct journal_rewrite *w,
    size_t max_batch) MUST_CHECK;
/* The offset in the new file of the next byte added to out. */
uint64_t journal_rewrite_off(const struct journal_rewrite *w);
/* Writes out once it holds a chunk or more. */
int journal_rewrite_flush(struct journal_rewrite *w) MUST_CHECK;
/*
 * Writes the rest, fsyncs, renames over the journal, which then holds
 * just what was written (all of it synced), and fsyncs the directory.
 * 1: done; < 0: the old journal stays, or, if the directory could not be
 * synced, the journal is broken. w is finished either way.
 */
int journal_rewrite_commit(struct journal *j,
    struct journal_rewrite *w) MUST_CHECK;
/* Abandons the new file. */
void journal_rewrite_abort(struct journal *j, struct journal_rewrite *w);

#endif
