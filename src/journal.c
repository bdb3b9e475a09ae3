/*
 * journal.c: see journal.h.
 *
 * Replay reads in chunks into one buffer of max_line plus a chunk, hands
 * out the whole lines in it, and moves the partial last one to the front;
 * a line longer than max_line is refused without reading it all.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "diag.h"
#include "journal.h"

#define JOURNAL_CHUNK (1u << 20) /* reads at open, writes when compacting */

static int
journal_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* a, sep and b joined, malloc'd; NULL: out of memory. */
static char *
journal_join(const char *a, const char *sep, const char *b)
{
	struct buf out;

	buf_init(&out, strlen(a) + strlen(sep) + strlen(b) + 1);
	if (buf_printf(&out, "%s%s%s", a, sep, b) < 0) {
		buf_done(&out);
		return NULL;
	}
	return buf_steal(&out);
}

/* ---- open, close ------------------------------------------------------ */

void
journal_init(struct journal *j)
{
	memset(j, 0, sizeof(*j));
	j->dirfd = -1;
	j->fd = -1;
}

static int
journal_open_file(struct journal *j, struct diag *reterr)
{
	struct stat st;
	struct stat st2;
	bool created = false;
	int fd;

	fd = openat(j->dirfd, j->name,
	    O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd >= 0)
		created = true;
	else if (errno == EEXIST)
		fd = openat(j->dirfd, j->name,
		    O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot open: %s", strerror(errno));
	j->fd = fd;
	if (fstat(fd, &st) < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return diag_set(reterr, -EINVAL, j->path, 0, 0,
		    "not a regular file");
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return diag_set(reterr, -EBUSY, j->path, 0, 0,
			    "in use by another process (smtrail running?)");
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot lock: %s", strerror(errno));
	}
	/* Replaced (compacted) between our open and our lock: someone else
	 * holds the new one. */
	if (fstatat(j->dirfd, j->name, &st2, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		return diag_set(reterr, -EBUSY, j->path, 0, 0,
		    "replaced while opening (another smtrail running?)");
	if (created && fsync(j->dirfd) < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot sync the state directory: %s", strerror(errno));
	/* A compaction cut short by a crash: the journal is still whole. */
	(void)unlinkat(j->dirfd, j->tmp, 0);
	return 0;
}

int
journal_open(struct journal *j, const char *dir, const char *name,
    struct diag *reterr)
{
	j->path = journal_join(dir, "/", name);
	j->name = strdup(name);
	j->tmp = journal_join(name, "", ".tmp");
	if (j->path == NULL || j->name == NULL || j->tmp == NULL)
		return -ENOMEM;
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0)
		return diag_set(reterr, -errno, dir, 0, 0,
		    "cannot open the state directory: %s", strerror(errno));
	return journal_open_file(j, reterr);
}

int
journal_open_ro(struct journal *j, const char *dir, const char *name,
    struct diag *reterr)
{
	struct stat st;

	j->path = journal_join(dir, "/", name);
	j->name = strdup(name);
	j->tmp = journal_join(name, "", ".tmp");
	if (j->path == NULL || j->name == NULL || j->tmp == NULL)
		return -ENOMEM;
	j->read_only = true;
	j->broken = -EROFS;
	j->fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (j->fd < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot open: %s", strerror(errno));
	if (fstat(j->fd, &st) < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return diag_set(reterr, -EINVAL, j->path, 0, 0,
		    "not a regular file");
	return 0;
}

void
journal_done(struct journal *j)
{
	if (j->fd >= 0)
		(void)close(j->fd);
	if (j->dirfd >= 0)
		(void)close(j->dirfd);
	free(j->path);
	free(j->name);
	free(j->tmp);
	journal_init(j);
}

/* ---- replay ----------------------------------------------------------- */

int
journal_bad(const struct journal *j, struct diag *reterr, const char *why)
{
	return diag_set(reterr, -EBADMSG, j->path, j->lineno, 0,
	    "byte offset %" PRIu64 ": %s", j->off, why);
}

static int
journal_line(struct journal *j, size_t max_line, const char *line, size_t len,
    journal_line_cb *cb, void *arg, struct diag *reterr)
{
	if (len == 0)
		return journal_bad(j, reterr, "empty line");
	if (len >= max_line)
		return journal_bad(j, reterr, "line too long");
	if (memchr(line, '\0', len) != NULL)
		return journal_bad(j, reterr, "NUL byte");
	return cb(line, len, arg);
}

/* Bytes after the last '\n' are a torn append: cut off, and that made
 * durable before anything new is added. */
static int
journal_cut_torn(struct journal *j, struct diag *reterr)
{
	if (ftruncate(j->fd, (off_t)j->size) < 0 || fdatasync(j->fd) < 0)
		return diag_set(reterr, -errno, j->path, 0, 0,
		    "cannot cut off a torn last line: %s", strerror(errno));
	j->torn_tail++;
	return 0;
}

int
journal_replay(struct journal *j, size_t max_line, journal_line_cb *cb,
    void *arg, struct diag *reterr)
{
	struct buf in;
	uint64_t base = 0; /* file offset of in.data[0] */
	size_t scan = 0;
	size_t start;
	char *nl;
	ssize_t n;
	int r = 0;

	j->off = 0;
	j->lineno = 0;
	buf_init(&in, max_line + JOURNAL_CHUNK);
	for (;;) {
		r = buf_reserve(&in, JOURNAL_CHUNK);
		if (r < 0)
			goto out;
		n = read(j->fd, in.data + in.len, JOURNAL_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = diag_set(reterr, -errno, j->path, 0, 0,
			    "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		in.len += (size_t)n;
		start = 0;
		while ((nl = memchr(in.data + scan, '\n', in.len - scan)) !=
		    NULL) {
			j->off = base + start;
			j->lineno++;
			r = journal_line(j, max_line, in.data + start,
			    (size_t)(nl - in.data) - start, cb, arg, reterr);
			if (r < 0)
				goto out;
			start = (size_t)(nl - in.data) + 1;
			scan = start;
		}
		memmove(in.data, in.data + start, in.len - start);
		in.len -= start;
		base += start;
		scan = in.len;
		if (in.len > max_line) {
			j->off = base;
			j->lineno++;
			r = journal_bad(j, reterr, "line too long");
			goto out;
		}
	}
	j->size = base;
	r = in.len > 0 && !j->read_only ? journal_cut_torn(j, reterr) : 0;
out:
	buf_done(&in);
	return r;
}

/* ---- appending -------------------------------------------------------- */

int
journal_append(struct journal *j, const char *p, size_t len, size_t n)
{
	int r;

	if (j->broken < 0)
		return j->broken;
	r = journal_write_all(j->fd, p, len);
	if (r < 0) {
		if (ftruncate(j->fd, (off_t)j->size) < 0)
			j->broken = r;
		return r;
	}
	j->size += len;
	j->unsynced += n;
	return 0;
}

int
journal_sync(struct journal *j)
{
	uint64_t n = j->unsynced;

	if (j->broken < 0)
		return j->broken;
	if (n == 0)
		return 0;
	/* After a failed fsync the kernel may have dropped the dirty pages
	 * and cleared the error: never report this journal durable again. */
	if (fdatasync(j->fd) < 0) {
		j->broken = -errno;
		return j->broken;
	}
	j->unsynced = 0;
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* A line buffer may have grown to hold a huge alert; don't keep that. */
void
journal_buf_reset(struct buf *b)
{
	if (b->cap > JOURNAL_CHUNK)
		buf_done(b);
	else
		buf_reset(b);
}

/* ---- lines ------------------------------------------------------------ */

int
journal_parse_object(struct json_tokener *tok, const char *s, size_t len,
    struct json_object **ret)
{
	struct json_object *o;

	if (len > INT_MAX)
		return -EBADMSG;
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	if (ret != NULL)
		*ret = o;
	else
		json_object_put(o);
	return 0;
}

/*
 * Strings in the header are escaped: no '"' of theirs can start the
 * field's name, so its first occurrence is the field. The alert is parsed
 * only to check it; it is handed out as text.
 */
int
journal_parse_line(const struct journal *j, struct json_tokener *tok,
    struct buf *hdr, size_t max_header, const char *line, size_t len,
    struct journal_line *ret, struct diag *reterr)
{
	static const char field[] = JOURNAL_ALERT_FIELD;
	const char *alert = NULL;
	const char *p;
	size_t alert_len = 0;
	int r;

	p = memmem(line, len, field, sizeof(field) - 1);
	buf_reset(hdr);
	if (p == NULL) {
		r = buf_append(hdr, line, len);
	} else {
		alert = p + sizeof(field) - 1;
		alert_len = (size_t)(line + len - 1 - alert);
		if (line[len - 1] != '}' || (size_t)(p - line) > max_header)
			return journal_bad(j, reterr, "not a journal entry");
		if (journal_parse_object(tok, alert, alert_len, NULL) < 0)
			return journal_bad(j, reterr,
			    "\"alert\" is not a JSON object");
		r = buf_append(hdr, line, (size_t)(p - line));
		r = r < 0 ? r : buf_putc(hdr, '}');
	}
	if (r == -E2BIG)
		return journal_bad(j, reterr, "header too long");
	if (r < 0)
		return r;
	if (journal_parse_object(tok, hdr->data, hdr->len, &ret->hdr) < 0)
		return journal_bad(j, reterr, "not a JSON object");
	ret->alert = alert;
	ret->alert_len = alert_len;
	return 0;
}

bool
journal_get_int(struct json_object *o, const char *name, int64_t min,
    int64_t *ret)
{
	struct json_object *v;
	int64_t i;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	if (i < min || i == INT64_MAX)
		return false;
	*ret = i;
	return true;
}

bool
journal_get_bool(struct json_object *o, const char *name, bool *ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return false;
	*ret = json_object_get_boolean(v);
	return true;
}

const char *
journal_str(struct json_object *v, size_t max, size_t *ret_len)
{
	const char *s;
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > max || memchr(s, '\0', len) != NULL)
		return NULL;
	*ret_len = len;
	return s;
}

const char *
journal_get_str(struct json_object *o, const char *name, size_t max,
    size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return NULL;
	return journal_str(v, max, ret_len);
}

/* ---- compaction ------------------------------------------------------- */

int
journal_rewrite_begin(struct journal *j, struct journal_rewrite *w,
    size_t max_batch)
{
	int r;

	w->pos = 0;
	w->fd = openat(j->dirfd, j->tmp,
	    O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (w->fd < 0)
		return -errno;
	buf_init(&w->out, JOURNAL_CHUNK + max_batch);
	if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		journal_rewrite_abort(j, w);
		return r;
	}
	return 0;
}

uint64_t
journal_rewrite_off(const struct journal_rewrite *w)
{
	return w->pos + w->out.len;
}

static int
journal_rewrite_write(struct journal_rewrite *w)
{
	int r;

	r = journal_write_all(w->fd, w->out.data, w->out.len);
	if (r < 0)
		return r;
	w->pos += w->out.len;
	buf_reset(&w->out);
	return 0;
}

int
journal_rewrite_flush(struct journal_rewrite *w)
{
	return w->out.len < JOURNAL_CHUNK ? 0 : journal_rewrite_write(w);
}

int
journal_rewrite_commit(struct journal *j, struct journal_rewrite *w)
{
	int r;

	r = journal_rewrite_write(w);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (r == 0 && renameat(j->dirfd, j->tmp, j->dirfd, j->name) < 0)
		r = -errno;
	if (r < 0) {
		journal_rewrite_abort(j, w);
		return r;
	}
	buf_done(&w->out);
	/* The new journal is in place; the old one's lock goes with it. */
	(void)close(j->fd);
	j->fd = w->fd;
	j->size = w->pos;
	j->unsynced = 0;
	/* Unsure whether the rename will survive a crash, appends could
	 * go to a file that is then gone: stop here. */
	if (fsync(j->dirfd) < 0) {
		j->broken = -errno;
		return j->broken;
	}
	return 1;
}

void
journal_rewrite_abort(struct journal *j, struct journal_rewrite *w)
{
	buf_done(&w->out);
	(void)close(w->fd);
	(void)unlinkat(j->dirfd, j->tmp, 0);
}
