/*
 * test_spool.c: the alert journal: replay of hostile journals, locking,
 * dedup, outcomes, retention, compaction, a crash, a full disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "spool.h"
#include "tap.h"
#include "testlib.h"

static uint64_t test_now = 1000000;

static uint64_t
test_clock(void *arg)
{
	(void)arg;
	return test_now;
}

static const char *const dests2[] = {"slack", "pager"};
static const char *const dests1[] = {"slack"};

static char *
jpath(const char *dir, const char *name)
{
	static char p[4096];

	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void
write_journal(const char *dir, const char *text, size_t len, bool append)
{
	const char *path = jpath(dir, "spool.journal");

	if (tl_write_file(path, text, len, append) < 0)
		tl_bail("cannot write %s", path);
}

/* The journal's text (malloc'ed), its size in *len. */
static char *
read_journal(const char *dir, size_t *len)
{
	const char *path = jpath(dir, "spool.journal");
	char *p = tl_slurp(path, SIZE_MAX - 1, len);

	if (p == NULL)
		tl_bail("cannot read %s", path);
	return p;
}

static off_t
file_size(const char *dir)
{
	return tl_file_size(jpath(dir, "spool.journal"));
}

static char *
xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/*
 * A hand-made alert; event_id NULL: the record has none. pad bytes of
 * filler go into the record so sizes can be steered.
 */
static void
mk_alert(struct alert *a, const char *rule, const char *event_id, size_t pad)
{
	struct json_object *rec = json_object_new_object();
	struct json_object *rp = json_object_new_object();
	char *filler = malloc(pad + 1);

	memset(filler, 'p', pad);
	filler[pad] = '\0';
	memset(a, 0, sizeof(*a));
	if (event_id != NULL)
		json_object_object_add(rec, "eventID",
		    json_object_new_string(event_id));
	json_object_object_add(rec, "eventName",
	    json_object_new_string("GetSecretValue"));
	json_object_object_add(rec, "eventSource",
	    json_object_new_string("secretsmanager.amazonaws.com"));
	json_object_object_add(rp, "secretId",
	    json_object_new_string("prod/db \"x\" {\n}"));
	json_object_object_add(rec, "requestParameters", rp);
	json_object_object_add(rec, "pad", json_object_new_string(filler));
	free(filler);
	a->rule_id = xstrdup(rule);
	a->title = xstrdup("Secret read");
	a->severity = RULES_SEV_WARNING;
	a->summary = xstrdup("someone read prod/db \"x\" {\n}");
	a->group = xstrdup("prod/db");
	a->event_id = xstrdup(event_id);
	a->event_name = xstrdup("GetSecretValue");
	a->event_time = xstrdup("2026-11-25T09:06:00Z");
	a->region = xstrdup("us-east-1");
	a->record = rec;
}

static int64_t
append1(struct spool *sp, const char *rule, const char *ev, size_t pad,
    const char *const *dests, size_t n)
{
	struct alert a;
	int64_t id;

	mk_alert(&a, rule, ev, pad);
	id = spool_append(sp, &a, dests, n);
	alert_done(&a);
	return id;
}

static char *
alert_text(const char *rule, const char *ev, size_t pad)
{
	struct alert a;
	struct buf b;

	buf_init(&b, 64u << 20);
	mk_alert(&a, rule, ev, pad);
	if (alert_json(&a, true, &b) != 0)
		exit(2);
	alert_done(&a);
	return buf_steal(&b);
}

static struct spool_stats
stats(const struct spool *sp)
{
	struct spool_stats st;

	spool_stats(sp, &st);
	return st;
}

/* Collects what spool_foreach_pending() hands out, as "job:dest " text. */
struct seen_list {
	char text[4096];
	int n;
	bool json_ok;
	struct spool *sp;
	bool mark; /* mark each one delivered from inside the callback */
};

static int
collect(int64_t job, const char *dest, const char *json, size_t len, void *arg)
{
	struct seen_list *l = arg;
	size_t used = strlen(l->text);

	(void)snprintf(l->text + used, sizeof(l->text) - used,
	    "%" PRId64 ":%s ", job, dest);
	l->n++;
	if (strlen(json) != len || json[0] != '{' || json[len - 1] != '}' ||
	    spool_alert_json(l->sp, job) != json)
		l->json_ok = false;
	if (l->mark && spool_mark(l->sp, job, dest, SPOOL_DELIVERED) != 0)
		l->json_ok = false;
	return 0;
}

static struct seen_list
pending(struct spool *sp, bool mark)
{
	struct seen_list l;

	memset(&l, 0, sizeof(l));
	l.json_ok = true;
	l.sp = sp;
	l.mark = mark;
	if (spool_foreach_pending(sp, collect, &l) != 0)
		l.json_ok = false;
	return l;
}

static int
stop_early(int64_t job, const char *dest, const char *json, size_t len,
    void *arg)
{
	(void)job;
	(void)dest;
	(void)json;
	(void)len;
	(*(int *)arg)++;
	return -ECANCELED;
}

/* Opens a journal made of text; returns the code, fills d. */
static int
open_text(const char *text, struct diag *d)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	int r;

	write_journal(dir, text, strlen(text), false);
	memset(d, 0, sizeof(*d));
	r = spool_open(dir, NULL, &sp, d);
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
	return r;
}

#define LINE1                                                                  \
	"{\"op\":\"alert\",\"job\":1,\"key\":\"r\\te-1\",\"t\":5,"             \
	"\"dests\":[\"slack\"],\"alert\":{\"rule\":\"r\"}}\n"

static void
test_hostile_lines(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *msg;
	} cases[] = {
	    {LINE1 "hello\n" LINE1, 2, "byte offset 83: not a JSON object"},
	    {"\n", 1, "byte offset 0: empty line"},
	    {LINE1 "[1,2]\n", 2, "byte offset 83: not a JSON object"},
	    {"{\"op\":\"next\",\"job\":5} x\n", 1,
		"byte offset 0: not a JSON object"},
	    {"{\"op\":\"next\",\"job\":5}{\"op\":\"next\",\"job\":6}\n", 1,
		"byte offset 0: not a JSON object"},
	    {"{\"op\":\"frob\"}\n", 1, "byte offset 0: unknown op"},
	    {"{\"job\":1}\n", 1, "byte offset 0: \"op\" missing"},
	    {"{\"op\":\"next\",\"job\":\"5\"}\n", 1,
		"byte offset 0: \"job\" missing or not positive"},
	    {"{\"op\":\"done\",\"job\":9,\"dest\":\"x\",\"ok\":true}\n", 1,
		"byte offset 0: outcome for an unknown or finished job"},
	    {LINE1
		"{\"op\":\"done\",\"job\":1,\"dest\":\"pager\",\"ok\":true}\n",
		2, "byte offset 83: outcome for an unknown destination"},
	    {LINE1 "{\"op\":\"done\",\"job\":1,\"dest\":\"slack\",\"ok\":1}\n",
		2, "byte offset 83: \"ok\" missing or not a boolean"},
	    {LINE1 LINE1, 2, "byte offset 83: job id out of order"},
	    {"{\"op\":\"alert\",\"alert\":{},\"job\":1,\"key\":\"k\",\"t\":1,"
	     "\"dests\":[\"a\"]}\n",
		1, "byte offset 0: \"alert\" is not a JSON object"},
	    {"{\"op\":\"alert\",\"job\":1,\"key\":\"k\",\"t\":1,\"dests\":[\"a\"]}\n",
		1, "byte offset 0: \"alert\" missing or not the last field"},
	    {"{\"op\":\"alert\",\"job\":1,\"key\":\"k\",\"t\":1,\"dests\":[\"a\"]"
	     ",\"alert\":[1]}\n",
		1, "byte offset 0: \"alert\" is not a JSON object"},
	    {"{\"op\":\"alert\",\"job\":1,\"key\":\"k\",\"t\":1,\"dests\":[\"a\","
	     "\"a\"],\"alert\":{}}\n",
		1, "byte offset 0: bad or repeated destination"},
	    {"{\"op\":\"alert\",\"job\":1,\"key\":\"k\",\"t\":-1,\"dests\":[\"a\""
	     "],\"alert\":{}}\n",
		1, "byte offset 0: \"t\" missing or negative"},
	    {"{\"op\":\"seen\",\"key\":\"\",\"t\":1}\n", 1,
		"byte offset 0: \"key\" missing or bad"},
	    {"{\"op\":\"seen\",\"key\":\"a\\u0000b\",\"t\":1}\n", 1,
		"byte offset 0: \"key\" missing or bad"},
	    {"{\"op\":\"seen\",\"key\":\"k\",\"t\":1}\n{\"op\":\"next\",\"job\":"
	     "99999999999999999999}\n",
		2, "byte offset 30: \"job\" missing or not positive"},
	};
	char want[300];
	struct diag d;
	size_t i;
	int nl;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		r = open_text(cases[i].text, &d);
		is_int(r, -EBADMSG, "hostile journal %zu: -EBADMSG", i);
		is_int(d.line, cases[i].line, "hostile journal %zu: line", i);
		is_str(d.msg, cases[i].msg, "hostile journal %zu: message", i);
	}
	(void)snprintf(want, sizeof(want), "/spool.journal");
	ok(strstr(d.file, want) != NULL, "diag names the journal");

	/* A NUL byte inside a line. */
	{
		char *dir = tl_tmpdir("test_spool");
		struct spool *sp = NULL;
		static const char nul[] = "{\"op\":\"next\",\0\"job\":1}\n";

		write_journal(dir, nul, sizeof(nul) - 1, false);
		r = spool_open(dir, NULL, &sp, &d);
		is_int(r, -EBADMSG, "NUL byte: -EBADMSG");
		is_str(d.msg, "byte offset 0: NUL byte", "NUL byte: message");
		spool_free(sp);
		(void)tl_tmpdir_free(dir);
	}
	/* Lines over the limit: one with its newline, one without (it is
	 * not taken for a torn line: no append is that long). */
	for (nl = 1; nl >= 0; nl--) {
		char *dir = tl_tmpdir("test_spool");
		struct spool *sp = NULL;
		size_t n = SPOOL_MAX_LINE + (nl ? 2 : (3u << 20));
		char *big = malloc(n);

		memset(big, ' ', n);
		if (nl)
			big[n - 1] = '\n';
		write_journal(dir, LINE1, strlen(LINE1), false);
		write_journal(dir, big, n, true);
		r = spool_open(dir, NULL, &sp, &d);
		is_int(r, -EBADMSG, "over-long line (newline %d): -EBADMSG",
		    nl);
		is_int(d.line, 2, "over-long line (newline %d): its line", nl);
		is_str(d.msg, "byte offset 83: line too long",
		    "over-long line (newline %d): message", nl);
		free(big);
		spool_free(sp);
		(void)tl_tmpdir_free(dir);
	}
}

static void
test_torn(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct seen_list l;
	char *want = alert_text("r1", "e-2", 10);
	static const char torn[] =
	    "{\"op\":\"alert\",\"job\":3,\"key\":\"r1\\te-";
	off_t good;
	int r;

	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "torn: open a fresh journal");
	is_int(append1(sp, "r1", "e-1", 10, dests1, 1), 1, "torn: job 1");
	is_int(append1(sp, "r1", "e-2", 10, dests1, 1), 2, "torn: job 2");
	is_int(spool_sync(sp), 2, "torn: sync makes 2 entries durable");
	is_int(spool_sync(sp), 0, "torn: nothing left to sync");
	spool_free(sp);
	sp = NULL;
	good = file_size(dir);
	/* Half of an alert line, as a crash mid-write(2) leaves it. */
	write_journal(dir, torn, strlen(torn), true);
	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "torn: opens");
	is_int(stats(sp).torn_tail, 1, "torn: counted");
	is_int(stats(sp).pending, 2, "torn: previous jobs intact");
	is_int(stats(sp).journal_bytes, good, "torn: cut at the last newline");
	is_int(file_size(dir), good, "torn: cut on disk too");
	is_str(spool_alert_json(sp, 2), want, "torn: job 2's alert, exact");
	ok(!spool_seen(sp, "r1", "e-3"), "torn: the cut alert is not seen");
	is_int(append1(sp, "r1", "e-3", 10, dests1, 1), 3,
	    "torn: appending goes on with job 3");
	is_int(spool_sync(sp), 1, "torn: sync");
	spool_free(sp);
	sp = NULL;

	/* A whole object, only its newline missing, is cut just the same. */
	write_journal(dir, "{\"op\":\"next\",\"job\":50}", 22, true);
	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "torn newline: opens");
	is_int(stats(sp).torn_tail, 1, "torn newline: counted");
	is_int(stats(sp).torn_tail == 1 ? append1(sp, "r1", "e-4", 1, dests1, 1)
					: 0,
	    4, "torn newline: its 'next' did not count");
	l = pending(sp, false);
	is_str(l.text, "1:slack 2:slack 3:slack 4:slack ", "torn: all pending");
	spool_free(sp);
	free(want);
	(void)tl_tmpdir_free(dir);
}

static void
test_open_errors(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct spool *sp2 = NULL;
	struct diag d;
	int r;

	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "lock: first open");
	memset(&d, 0, sizeof(d));
	r = spool_open(dir, NULL, &sp2, &d);
	is_int(r, -EBUSY, "lock: second open of the same dir is -EBUSY");
	ok(sp2 == NULL, "lock: nothing returned");
	ok(strstr(d.msg, "in use") != NULL, "lock: says why");
	spool_free(sp);
	/* What a crash mid-compaction leaves: the journal is still whole. */
	{
		int fd = open(jpath(dir, "spool.journal.tmp"),
		    O_WRONLY | O_CREAT, 0600);

		ok(fd >= 0 && write(fd, "{\"op\":", 6) == 6,
		    "a half-written compaction file");
		if (fd >= 0)
			(void)close(fd);
	}
	r = spool_open(dir, NULL, &sp2, NULL);
	is_int(r, 0, "lock: released by spool_free");
	ok(access(jpath(dir, "spool.journal.tmp"), F_OK) < 0 && errno == ENOENT,
	    "the leftover compaction file is removed at open");
	spool_free(sp2);

	{
		struct stat st;

		ok(stat(jpath(dir, "spool.journal"), &st) == 0 &&
			(st.st_mode & 07777) == 0600,
		    "journal created 0600");
	}

	r = spool_open(jpath(dir, "nope"), NULL, &sp, &d);
	is_int(r, -ENOENT, "missing dir: -ENOENT");
	ok(strstr(d.msg, "state directory") != NULL, "missing dir: says so");
	write_journal(dir, "", 0, false);
	r = spool_open(jpath(dir, "spool.journal"), NULL, &sp, NULL);
	is_int(r, -ENOTDIR, "dir is a file: -ENOTDIR");

	{
		char *d2 = tl_tmpdir("test_spool");

		(void)mkdir(jpath(d2, "spool.journal"), 0700);
		r = spool_open(d2, NULL, &sp, NULL);
		is_int(r, -EISDIR, "journal is a directory: -EISDIR");
		(void)tl_tmpdir_free(d2);
		d2 = tl_tmpdir("test_spool");
		(void)symlink("/etc/passwd", jpath(d2, "spool.journal"));
		r = spool_open(d2, NULL, &sp, NULL);
		is_int(r, -ELOOP, "journal is a symlink: refused (-ELOOP)");
		(void)tl_tmpdir_free(d2);
		d2 = tl_tmpdir("test_spool");
		(void)mkfifo(jpath(d2, "spool.journal"), 0600);
		r = spool_open(d2, NULL, &sp, &d);
		is_int(r, -EINVAL, "journal is a FIFO: -EINVAL");
		is_str(d.msg, "not a regular file", "FIFO: says why");
		(void)tl_tmpdir_free(d2);
		d2 = tl_tmpdir("test_spool");
		(void)chmod(d2, 0500);
		r = spool_open(d2, NULL, &sp, NULL);
		if (geteuid() == 0)
			ok(r == 0, "unwritable dir # SKIP root writes anyway");
		else
			is_int(r, -EACCES, "unwritable dir: -EACCES");
		spool_free(r == 0 ? sp : NULL);
		(void)chmod(d2, 0700);
		(void)tl_tmpdir_free(d2);
	}
	(void)tl_tmpdir_free(dir);
}

static void
test_fd_cloexec(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	bool before[256];
	int fd;
	int cloexec = 1;
	int n = 0;

	for (fd = 0; fd < 256; fd++)
		before[fd] = fcntl(fd, F_GETFD) >= 0;
	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	for (fd = 0; fd < 256; fd++) {
		int fl = fcntl(fd, F_GETFD);

		if (fl < 0 || before[fd])
			continue;
		n++;
		if (!(fl & FD_CLOEXEC))
			cloexec = 0;
	}
	ok(n >= 2 && cloexec, "every fd the spool holds is O_CLOEXEC (%d)", n);
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
}

static void
test_bad_args(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	static const char *const dup[] = {"a", "a"};
	static const char *const empty[] = {""};
	static const char *const null1[] = {NULL};
	struct alert a;
	char big[SPOOL_MAX_DEST + 2];

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		const char *const toolong[] = {big};

		is_int(append1(sp, "r", "e", 0, toolong, 1), -EINVAL,
		    "destination name too long");
	}
	is_int(append1(sp, "r", "e", 0, dests1, 0), -EINVAL, "no destination");
	is_int(append1(sp, "r", "e", 0, dup, 2), -EINVAL,
	    "same destination twice");
	is_int(append1(sp, "r", "e", 0, empty, 1), -EINVAL,
	    "empty destination");
	is_int(append1(sp, "r", "e", 0, null1, 1), -EINVAL, "NULL destination");
	is_int(append1(sp, NULL, "e", 0, dests1, 1), -EINVAL, "no rule id");
	is_int(append1(sp, "a\tb", "e", 0, dests1, 1), -EINVAL,
	    "a tab in the rule id");
	mk_alert(&a, "r", NULL, 0);
	json_object_put(a.record);
	a.record = NULL;
	is_int(spool_append(sp, &a, dests1, 1), -EINVAL,
	    "no eventID and no record");
	alert_done(&a);
	is_int(stats(sp).journal_bytes, 0, "nothing written by refusals");
	is_int(spool_mark(sp, 1, "slack", SPOOL_DELIVERED), -ENOENT,
	    "mark an unknown job");

	/* A record whose JSON text is over alert_json's ceiling (2 MB of
	 * control bytes, 12 MB escaped): the alert is kept without it. */
	{
		size_t n = 2u << 20;
		char *ctl = malloc(n + 1);
		const char *json;

		memset(ctl, 1, n);
		ctl[n] = '\0';
		mk_alert(&a, "r", "e-huge", 0);
		json_object_object_add(a.record, "ctl",
		    json_object_new_string(ctl));
		free(ctl);
		is_int(spool_append(sp, &a, dests1, 1), 1,
		    "huge record: spooled anyway");
		alert_done(&a);
		json = spool_alert_json(sp, 1);
		ok(json != NULL && strstr(json, "\"rule\":\"r\"") != NULL &&
			strstr(json, "\"record\"") == NULL,
		    "huge record: the alert, without its record");
	}
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
}

static void
test_dedup(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct alert a;
	struct alert b;
	char key[200];
	char hex[65];
	unsigned char md[32];
	unsigned int n;
	unsigned int i;
	const char *text;
	char *journal;
	char weird[] = "e \"q\" \\ \t\n\x01 ,\"alert\":{} \xff";
	char longid[400];

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r1", "e-1", 0, dests1, 1), 1, "dedup: job 1");
	is_int(append1(sp, "r1", "e-1", 0, dests1, 1), -EEXIST,
	    "dedup: same (rule, eventID): -EEXIST");
	is_int(stats(sp).deduplicated, 1, "dedup: counted");
	is_int(append1(sp, "r2", "e-1", 0, dests1, 1), 2,
	    "dedup: same eventID, another rule: a new job");
	ok(spool_seen(sp, "r1", "e-1") && !spool_seen(sp, "r1", "e-2"),
	    "dedup: spool_seen");
	is_int(append1(sp, "r1", weird, 0, dests1, 1), 3,
	    "dedup: quotes, control bytes, ,\"alert\": and bad UTF-8 in eventID");
	memset(longid, 'L', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	is_int(append1(sp, "r1", longid, 0, dests1, 1), 4,
	    "dedup: a 399-byte eventID");

	/* No eventID: the SHA-256 of the record's JSON text. */
	mk_alert(&a, "r1", NULL, 3);
	mk_alert(&b, "r1", NULL, 3);
	is_int(spool_append(sp, &a, dests1, 1), 5, "no eventID: job 5");
	is_int(spool_append(sp, &b, dests1, 1), -EEXIST,
	    "no eventID: same record text: -EEXIST");
	text = json_object_to_json_string_ext(a.record,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	(void)EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
	(void)snprintf(key, sizeof(key), "\"key\":\"r1\\tsha256:%s\"", hex);
	journal = read_journal(dir, NULL);
	ok(strstr(journal, key) != NULL,
	    "no eventID: key is r1\\tsha256:<hex>");
	free(journal);
	alert_done(&a);
	alert_done(&b);
	is_int(append1(sp, "r1", NULL, 4, dests1, 1), 6,
	    "no eventID: another record: a new job");
	is_int(spool_sync(sp), 6, "dedup: sync");
	spool_free(sp);

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r1", "e-1", 0, dests1, 1), -EEXIST,
	    "dedup after reopen: -EEXIST");
	is_int(append1(sp, "r1", weird, 0, dests1, 1), -EEXIST,
	    "dedup after reopen: the weird eventID too");
	ok(spool_seen(sp, "r1", weird), "dedup after reopen: spool_seen weird");
	is_int(append1(sp, "r1", longid, 0, dests1, 1), -EEXIST,
	    "dedup after reopen: the long eventID too");
	is_int(append1(sp, "r1", NULL, 3, dests1, 1), -EEXIST,
	    "dedup after reopen: by content hash");
	is_int(append1(sp, "r1", "e-9", 0, dests1, 1), 7,
	    "dedup after reopen: job ids go on");
	is_int(stats(sp).dedup_keys, 7, "dedup: 7 identities");
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
}

static void
test_outcomes(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct seen_list l;
	char *want = alert_text("r", "e-2", 100);
	int stopped = 0;

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r", "e-1", 100, dests2, 2), 1, "outcomes: job 1");
	is_int(append1(sp, "r", "e-2", 100, dests2, 2), 2, "outcomes: job 2");
	is_int(append1(sp, "r", "e-3", 100, dests2, 2), 3, "outcomes: job 3");
	is_int(spool_sync(sp), 3, "outcomes: sync");
	spool_free(sp);

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	l = pending(sp, false);
	is_str(l.text, "1:slack 1:pager 2:slack 2:pager 3:slack 3:pager ",
	    "pending survive reopen, iterated in order");
	ok(l.json_ok, "pending: the text is spool_alert_json's");
	is_str(spool_alert_json(sp, 2), want, "pending: alert text exact");
	is_int(spool_foreach_pending(sp, stop_early, &stopped), -ECANCELED,
	    "pending: a callback's error stops it");
	is_int(stopped, 1, "pending: after one call");
	memset(&l, 0, sizeof(l));
	l.json_ok = true;
	l.sp = sp;
	ok(spool_foreach_pending_from(sp, 2, collect, &l) == 0 &&
		strcmp(l.text, "2:slack 2:pager 3:slack 3:pager ") == 0,
	    "pending from job 2: %s", l.text);
	memset(&l, 0, sizeof(l));
	l.sp = sp;
	ok(spool_foreach_pending_from(sp, 4, collect, &l) == 0 && l.n == 0,
	    "pending from job 4: none");

	is_int(spool_mark(sp, 1, "slack", SPOOL_DELIVERED), 0, "mark 1 slack");
	is_int(spool_mark(sp, 1, "slack", SPOOL_DELIVERED), -EALREADY,
	    "mark twice: -EALREADY");
	is_int(spool_mark(sp, 1, "email", SPOOL_DELIVERED), -ENOENT,
	    "mark an unknown destination: -ENOENT");
	is_int(spool_mark(sp, 1, "pager", SPOOL_OUTCOME_COUNT), -EINVAL,
	    "mark with a bad outcome: -EINVAL");
	is_int(spool_mark(sp, 1, "pager", SPOOL_DELIVERED), 0, "mark 1 pager");
	ok(spool_alert_json(sp, 1) == NULL, "job 1 complete: no text");
	is_int(spool_mark(sp, 1, "pager", SPOOL_DELIVERED), -ENOENT,
	    "mark a complete job: -ENOENT");
	is_int(spool_mark(sp, 2, "slack", SPOOL_FAILED), 0, "2 slack failed");
	is_int(spool_mark(sp, 2, "pager", SPOOL_DELIVERED), 0, "2 pager ok");
	is_int(stats(sp).failed, 1, "failed: counted");
	is_int(stats(sp).delivered, 3, "delivered: counted");
	is_int(stats(sp).pending, 1, "one job pending");
	is_int(spool_sync(sp), 4, "outcomes synced (4 outcomes)");
	spool_free(sp);

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	l = pending(sp, false);
	is_str(l.text, "3:slack 3:pager ",
	    "after reopen: delivered and failed are not pending");
	is_int(stats(sp).failed, 1, "after reopen: failed still counted");
	is_int(stats(sp).pending, 1, "after reopen: one pending");
	ok(spool_alert_json(sp, 2) == NULL, "failed job: not handed out");
	/* Marking from inside the iteration (a synchronous sink). */
	l = pending(sp, true);
	ok(l.n == 2 && l.json_ok, "mark from inside the callback");
	is_int(stats(sp).pending, 0, "nothing pending");
	l = pending(sp, false);
	is_int(l.n, 0, "iteration is empty");
	spool_free(sp);
	free(want);
	(void)tl_tmpdir_free(dir);
}

static void
test_limits_and_clock(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool_opts o = {.dedup_retention_s = 10,
	    .max_pending = 2,
	    .clock_s = test_clock};
	struct spool *sp = NULL;
	char line[200];
	int n;

	test_now = 1000;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r", "e-1", 0, dests1, 1), 1, "max_pending: 1");
	is_int(append1(sp, "r", "e-2", 0, dests1, 1), 2, "max_pending: 2");
	is_int(append1(sp, "r", "e-3", 0, dests1, 1), -E2BIG,
	    "max_pending: the third is -E2BIG");
	is_int(append1(sp, "r", "e-1", 0, dests1, 1), -EEXIST,
	    "max_pending: a duplicate is still -EEXIST");
	is_int(spool_mark(sp, 1, "slack", SPOOL_DELIVERED), 0, "drain one");
	is_int(append1(sp, "r", "e-3", 0, dests1, 1), 3,
	    "max_pending: room again");
	test_now = 1009;
	ok(spool_seen(sp, "r", "e-1"), "retention: seen at 9 s");
	test_now = 1010;
	ok(!spool_seen(sp, "r", "e-1"), "retention: expired at 10 s");
	is_int(spool_mark(sp, 2, "slack", SPOOL_DELIVERED), 0, "drain two");
	is_int(append1(sp, "r", "e-1", 0, dests1, 1), 4,
	    "retention: expired identity alerts again");
	ok(spool_seen(sp, "r", "e-1"), "retention: seen anew");
	test_now = 1015;
	is_int(spool_sync(sp), 6, "sync: 4 alerts, 2 outcomes");
	spool_free(sp);

	/* Reopen later: the old keys are dropped, e-1 (t=1010) is kept. */
	test_now = 1019;
	o.max_pending = 0;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	is_int(stats(sp).dedup_keys, 1, "reopen: expired identities dropped");
	ok(spool_seen(sp, "r", "e-1"), "reopen: e-1 seen since 1010");
	ok(!spool_seen(sp, "r", "e-3"), "reopen: e-3 (1000) expired");
	test_now = 1005;
	ok(spool_seen(sp, "r", "e-1"), "clock went back: still seen");
	spool_free(sp);

	/* A first-seen time in the future (clock was wrong) is clamped. */
	n = snprintf(line, sizeof(line),
	    "{\"op\":\"seen\",\"key\":\"r\\tfuture\",\"t\":99999999999}\n");
	write_journal(dir, line, (size_t)n, true);
	test_now = 2000;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	ok(spool_seen(sp, "r", "future"), "future t: seen now");
	test_now = 2010;
	ok(!spool_seen(sp, "r", "future"), "future t: clamped, expires");
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
}

static void
test_compact(void)
{
	struct spool_opts o = {.dedup_retention_s = 100, .clock_s = test_clock};
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct seen_list l;
	struct stat st;
	struct diag d;
	uint64_t before;
	uint64_t after;
	char *want = alert_text("r", "e-5", 1000);
	char ev[32];
	char *journal;
	int i;
	int r;

	test_now = 5000;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	for (i = 1; i <= 1500; i++) {
		(void)snprintf(ev, sizeof(ev), "e-%d", i);
		if (append1(sp, "r", ev, 1000, dests1, 1) != i)
			break;
	}
	is_int(i, 1501, "compact: 1500 alerts of about 1.2 kB");
	is_int(spool_compact(sp), 0, "compact: all live, nothing to do");
	for (i = 1; i <= 1500; i++)
		if (i != 5 && i != 700 &&
		    spool_mark(sp, i, "slack",
			i == 9 ? SPOOL_FAILED : SPOOL_DELIVERED) != 0)
			break;
	is_int(i, 1501, "compact: all but two marked");
	before = stats(sp).journal_bytes;
	r = spool_compact(sp);
	is_int(r, 1, "compact: done");
	after = stats(sp).journal_bytes;
	ok(after < before / 20, "compact: %" PRIu64 " -> %" PRIu64 " bytes",
	    before, after);
	is_int(file_size(dir), (long long)after, "compact: the file is that");
	ok(stat(jpath(dir, "spool.journal.tmp"), &st) < 0,
	    "compact: no temporary left");
	is_int(spool_compact(sp), 0, "compact: again, nothing to do");
	l = pending(sp, false);
	is_str(l.text, "5:slack 700:slack ", "compact: pending kept");
	ok(l.json_ok, "compact: their text");
	is_str(spool_alert_json(sp, 5), want, "compact: text exact");
	ok(spool_seen(sp, "r", "e-1000"), "compact: delivered identity kept");
	is_int(stats(sp).dedup_keys, 1500, "compact: all 1500 identities");
	is_int(spool_mark(sp, 700, "slack", SPOOL_DELIVERED), 0,
	    "compact: marking goes on");
	is_int(append1(sp, "r", "x", 0, dests1, 1), 1501,
	    "compact: appending goes on");
	is_int(spool_sync(sp), 2, "compact: sync after");
	spool_free(sp);

	memset(&d, 0, sizeof(d));
	r = spool_open(dir, &o, &sp, &d);
	is_int(r, 0, "compacted journal reopens");
	if (r != 0) {
		diag_note("%s:%u: %s", d.file, d.line, d.msg);
		exit(1);
	}
	l = pending(sp, false);
	is_str(l.text, "5:slack 1501:slack ", "compacted: pending as before");
	is_int(stats(sp).failed, 1, "compact: the failed one kept");
	is_int(append1(sp, "r", "e-1500", 0, dests1, 1), -EEXIST,
	    "compact: identity of a delivered alert persists");
	ok(spool_alert_json(sp, 9) == NULL, "compact: failed is not pending");
	journal = read_journal(dir, NULL);
	ok(strstr(journal, "\"job\":9,\"dest\":\"slack\",\"ok\":false") != NULL,
	    "compact: failed outcome in the journal");
	ok(strncmp(journal, "{\"op\":\"next\",\"job\":1501}\n", 25) == 0,
	    "compact: starts with the next job id");
	free(journal);
	spool_free(sp);

	/* Expired identities go at compaction. */
	(void)tl_tmpdir_free(dir);
	dir = tl_tmpdir("test_spool");
	test_now = 5000;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	for (i = 1; i <= 1000; i++) {
		(void)snprintf(ev, sizeof(ev), "e-%d", i);
		if (append1(sp, "r", ev, 1000, dests1, 1) != i ||
		    (i != 1000 &&
			spool_mark(sp, i, "slack", SPOOL_DELIVERED) != 0))
			break;
	}
	is_int(i, 1001, "expiry: 1000 alerts, 999 delivered");
	test_now = 5200;
	is_int(spool_compact(sp), 1, "expiry: compacted");
	is_int(stats(sp).dedup_keys, 0, "expiry: identities dropped");
	ok(!spool_seen(sp, "r", "e-1"), "expiry: not seen any more");
	ok(stats(sp).journal_bytes < 2000, "expiry: journal %" PRIu64 " bytes",
	    stats(sp).journal_bytes);
	l = pending(sp, false);
	is_str(l.text, "1000:slack ", "expiry: the pending alert stays");
	spool_free(sp);
	free(want);
	(void)tl_tmpdir_free(dir);
}

/* Collects spool_foreach_alert() as "job:dest=state(error) ..." text. */
struct alert_list {
	char text[4096];
	int n;
};

static int
collect_alert(const struct spool_alert_info *a, void *arg)
{
	struct alert_list *l = arg;
	size_t used = strlen(l->text);
	size_t i;

	for (i = 0; i < a->n_dests; i++) {
		used = strlen(l->text);
		(void)snprintf(l->text + used, sizeof(l->text) - used,
		    "%" PRId64 ":%s=%s%s%s%s ", a->job, a->dest[i],
		    spool_pair_str(a->state[i]), a->error[i] ? "(" : "",
		    a->error[i] ? a->error[i] : "", a->error[i] ? ")" : "");
	}
	l->n++;
	return 0;
}

static struct alert_list
alerts(struct spool *sp)
{
	struct alert_list l;

	memset(&l, 0, sizeof(l));
	if (spool_foreach_alert(sp, collect_alert, &l) != 0)
		(void)snprintf(l.text, sizeof(l.text), "(error)");
	return l;
}

#define RP_ALERT(n, dests)                                                     \
	"{\"op\":\"alert\",\"job\":" #n ",\"key\":\"r\\te-" #n "\",\"t\":5,"   \
	"\"dests\":" dests ",\"alert\":{\"rule\":\"r\",\"n\":" #n "}}\n"
#define RP_DONE(n, dest, ok)                                                   \
	"{\"op\":\"done\",\"job\":" #n ",\"dest\":\"" dest "\",\"ok\":" ok "}\n"

/* The "retry" and "purge" lines: hostile ones, replay, torn, compaction,
 * and the read-only view smtrail spool list uses. */
static void
test_retry_purge(void)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *msg;
	} cases[] = {
	    {"{\"op\":\"retry\",\"job\":1,\"dest\":\"slack\"}\n", 1,
		"byte offset 0: retry or purge of an unknown job"},
	    {RP_ALERT(1, "[\"slack\"]") "{\"op\":\"retry\",\"job\":1,"
					"\"dest\":\"slack\"}\n",
		2,
		"byte offset 89: retry or purge for a destination not "
		"failed"},
	    {RP_ALERT(1, "[\"slack\"]") RP_DONE(1, "slack",
		 "false") "{\"op\":\"purge\",\"job\":1,\"dest\":\"pager\"}\n",
		3,
		"byte offset 137: retry or purge for an unknown destination"},
	    {RP_ALERT(1, "[\"slack\"]") RP_DONE(1, "slack",
		 "false") "{\"op\":\"retry\",\"job\":1,\"dest\":\"slack\"}\n"
			  "{\"op\":\"retry\",\"job\":1,\"dest\":\"slack\"}\n",
		4,
		"byte offset 175: retry or purge for a destination not "
		"failed"},
	    {RP_ALERT(1, "[\"slack\"]") RP_DONE(1, "slack",
		 "false") "{\"op\":\"purge\",\"job\":1,\"dest\":\"slack\"}\n"
			  "{\"op\":\"retry\",\"job\":1,\"dest\":\"slack\"}\n",
		4, "byte offset 175: retry or purge of an unknown job"},
	    {RP_ALERT(1, "[\"slack\"]") RP_DONE(1, "slack",
		 "false") "{\"op\":\"retry\",\"job\":1}\n",
		3, "byte offset 137: \"dest\" missing or bad"},
	    {RP_ALERT(1, "[\"slack\"]") RP_DONE(1, "slack",
		 "false") "{\"op\":\"purge\",\"job\":0,\"dest\":\"slack\"}\n",
		3,
		"byte offset 137: \"job\" missing or not a positive integer"},
	};
	struct spool_opts o = {.dedup_retention_s = 100000,
	    .clock_s = test_clock};
	struct spool_opts ro = {.read_only = true, .clock_s = test_clock};
	char *dir = tl_tmpdir("test_spool");
	char *want1 = alert_text("r", "e-1", 100);
	char id[SPOOL_ALERT_ID_SIZE];
	char long_err[400];
	struct spool *sp = NULL;
	struct spool *rsp = NULL;
	struct spool_alert_info info;
	struct alert_list al;
	struct seen_list l;
	struct diag d;
	struct buf b;
	char *journal;
	int64_t job;
	off_t size;
	size_t i;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		r = open_text(cases[i].text, &d);
		is_int(r, -EBADMSG, "retry/purge hostile %zu: -EBADMSG", i);
		is_int(d.line, cases[i].line, "retry/purge hostile %zu: line",
		    i);
		is_str(d.msg, cases[i].msg, "retry/purge hostile %zu: message",
		    i);
	}
	/* A bad "error" is informative only: left out, not fatal. */
	r = open_text(RP_ALERT(1, "[\"slack\"]") "{\"op\":\"done\",\"job\":1,"
						 "\"dest\":\"slack\",\"ok\":"
						 "false,\"error\":5}\n",
	    &d);
	is_int(r, 0, "a failed outcome's non-string error: ignored");

	test_now = 1000000;
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r", "e-1", 100, dests2, 2), 1, "rp: job 1");
	test_now += 10;
	is_int(append1(sp, "r", "e-2", 100, dests2, 2), 2, "rp: job 2");
	is_int(append1(sp, "r", "e-3", 100, dests2, 2), 3, "rp: job 3");
	memset(long_err, 'x', sizeof(long_err) - 1);
	long_err[sizeof(long_err) - 1] = '\0';
	is_int(spool_mark_detail(sp, 1, "slack", SPOOL_FAILED, "HTTP 404", 0),
	    0, "rp: 1 slack failed, with its error");
	is_int(
	    spool_mark_detail(sp, 1, "pager", SPOOL_DELIVERED, "HTTP 202", 7),
	    0, "rp: 1 pager delivered (no error kept)");
	is_int(spool_mark_detail(sp, 2, "slack", SPOOL_FAILED, long_err, 0), 0,
	    "rp: 2 slack failed, a long error");
	is_int(spool_mark_detail(sp, 2, "pager", SPOOL_FAILED, NULL,
		   0x0123456789abcdefull),
	    0, "rp: 2 pager failed, no error, a definition");
	is_int(spool_mark(sp, 3, "slack", SPOOL_DELIVERED), 0, "rp: 3 slack");
	is_int(spool_mark(sp, 3, "pager", SPOOL_DELIVERED), 0, "rp: 3 pager");
	is_int(stats(sp).failed, 3, "rp: three failed pairs");
	al = alerts(sp);
	is_int(al.n, 2, "rp: two alerts kept (3 is done)");
	ok(strstr(al.text, "1:slack=failed(HTTP 404) 1:pager=delivered ") ==
		al.text,
	    "rp: alert 1 as listed: %s", al.text);
	ok(strstr(al.text, "2:pager=failed ") != NULL,
	    "rp: a failure without error");
	is_int(spool_alert_get(sp, 2, &info), 0, "rp: alert 2 info");
	is_int((long long)strlen(info.error[0]), SPOOL_MAX_ERROR,
	    "rp: an error is cut at SPOOL_MAX_ERROR");
	is_int((long long)info.t, 1000010, "rp: its time");
	ok(info.def[0] == 0 && info.def[1] == 0x0123456789abcdefull,
	    "rp: the definition with the failure that has one");
	is_int(spool_alert_get(sp, 1, &info), 0, "rp: alert 1 info");
	ok(info.def[1] == 0, "rp: none kept with a delivery");
	is_int(spool_alert_id(sp, 1, id), 0, "rp: alert id of 1");
	is_int(spool_find_alert(sp, id, &job), 0, "rp: found by its id");
	is_int(job, 1, "rp: it is job 1");
	is_int(spool_find_alert(sp, "00000000000000000000000000000000", &job),
	    -ENOENT, "rp: an unknown id");
	is_int(spool_find_alert(sp, "abc", &job), -ENOENT, "rp: a short id");
	ok(spool_alert_json(sp, 1) == NULL,
	    "rp: a failed one is not in memory");
	buf_init(&b, SPOOL_MAX_LINE);
	is_int(spool_alert_text(sp, 1, &b), 0, "rp: its text from the journal");
	is_str(b.data, want1, "rp: byte for byte");

	is_int(spool_retry(sp, 1, "pager"), -EALREADY,
	    "retry a delivered destination: -EALREADY");
	is_int(spool_retry(sp, 1, "email"), -ENOENT,
	    "retry an unknown destination: -ENOENT");
	is_int(spool_retry(sp, 3, "slack"), -ENOENT,
	    "retry a finished job: -ENOENT");
	is_int(spool_retry(sp, 1, "slack"), 0, "retry 1 slack");
	is_int(spool_retry(sp, 1, "slack"), -EALREADY,
	    "retry it again: -EALREADY (pending)");
	is_str(spool_alert_json(sp, 1), want1, "retried: its text is back");
	l = pending(sp, false);
	is_str(l.text, "1:slack ", "retried: pending again");
	is_int(stats(sp).failed, 2, "retried: no longer counted failed");
	is_int(stats(sp).pending, 1, "retried: one job pending");
	is_int(spool_purge(sp, 2, "slack"), 0, "purge 2 slack");
	is_int(spool_purge(sp, 2, "slack"), -EALREADY, "purge it again");
	is_int(spool_purge(sp, 1, "slack"), -EALREADY,
	    "purge a pending one: -EALREADY");
	is_int(stats(sp).failed, 1, "purged: no longer counted failed");
	is_int(spool_sync(sp), 11,
	    "rp: synced (3 alerts, 6 outcomes, a retry, a purge)");

	/* The read-only view, while the spool is held. */
	memset(&d, 0, sizeof(d));
	r = spool_open(dir, &ro, &rsp, &d);
	is_int(r, 0, "read-only: opens while another holds the lock");
	if (r == 0) {
		al = alerts(rsp);
		ok(strstr(al.text,
		       "1:slack=pending 1:pager=delivered 2:slack="
		       "purged 2:pager=failed ") == al.text,
		    "read-only: sees the same: %s", al.text);
		is_int(spool_retry(rsp, 2, "pager"), -EROFS,
		    "read-only: retry -EROFS");
		is_int(append1(rsp, "r", "e-9", 0, dests1, 1), -EROFS,
		    "read-only: append -EROFS");
		buf_reset(&b);
		is_int(spool_alert_text(rsp, 2, &b), 0, "read-only: text");
	}
	spool_free(rsp);
	rsp = NULL;
	spool_free(sp);

	/* Replay. */
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	l = pending(sp, false);
	is_str(l.text, "1:slack ", "replayed: the retried one is pending");
	is_str(spool_alert_json(sp, 1), want1, "replayed: with its text");
	is_int(stats(sp).failed, 1, "replayed: one failed");
	al = alerts(sp);
	ok(strstr(al.text, "2:slack=purged 2:pager=failed ") != NULL,
	    "replayed: purged and failed: %s", al.text);
	is_int(spool_alert_get(sp, 2, &info), 0, "replayed: alert 2 info");
	ok(info.def[1] == 0x0123456789abcdefull,
	    "replayed: the definition kept");
	is_int(spool_mark_detail(sp, 1, "slack", SPOOL_DELIVERED, NULL, 0), 0,
	    "the retry delivered");
	is_int(spool_purge(sp, 2, "pager"), 0, "the last failed purged");
	al = alerts(sp);
	is_int(al.n, 0, "nothing kept");
	is_int(stats(sp).failed, 0, "nothing failed");
	ok(spool_seen(sp, "r", "e-2"), "purge: the dedup memory keeps it");
	is_int(append1(sp, "r", "e-2", 100, dests2, 2), -EEXIST,
	    "purge: the same alert again is a duplicate");
	is_int(spool_sync(sp), 2, "synced");
	spool_free(sp);
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	is_int(alerts(sp).n, 0, "reopened: nothing kept");
	is_int(append1(sp, "r", "e-1", 100, dests2, 2), -EEXIST,
	    "reopened: a retried, delivered alert is still a duplicate");

	/* A torn "retry" line: cut off, the pair stays failed. */
	is_int(append1(sp, "r", "e-4", 100, dests1, 1), 4, "torn: job 4");
	is_int(spool_mark(sp, 4, "slack", SPOOL_FAILED), 0, "torn: failed");
	is_int(spool_sync(sp), 2, "torn: synced");
	spool_free(sp);
	size = file_size(dir);
	write_journal(dir, "{\"op\":\"retry\",\"job\":4,\"de", 25, true);
	/* The read-only view leaves a partial line alone. */
	is_int(spool_open(dir, &ro, &rsp, NULL), 0, "torn: read-only opens");
	ok(rsp != NULL && strstr(alerts(rsp).text, "4:slack=failed ") != NULL,
	    "torn: read-only sees it failed");
	is_int(file_size(dir), (long long)size + 25,
	    "torn: read-only does not cut");
	spool_free(rsp);
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	is_int(stats(sp).torn_tail, 1, "torn: cut off");
	is_int(file_size(dir), (long long)size, "torn: the file as before");
	is_int(pending(sp, false).n, 0, "torn: nothing pending");
	is_int(stats(sp).failed, 1, "torn: still failed");
	spool_free(sp);
	(void)tl_tmpdir_free(dir);

	/* Compaction keeps failed (with the error), retried and purged. */
	dir = tl_tmpdir("test_spool");
	if (spool_open(dir, &o, &sp, NULL) != 0)
		exit(2);
	for (i = 1; i <= 1500; i++) {
		char ev[32];

		(void)snprintf(ev, sizeof(ev), "e-%zu", i);
		if (append1(sp, "r", ev, 1000, i == 11 ? dests2 : dests1,
			i == 11 ? 2 : 1) != (int64_t)i)
			break;
	}
	is_int(i, 1501, "compact rp: 1500 alerts");
	r = 0;
	for (i = 1; r == 0 && i <= 1500; i++)
		r = spool_mark_detail(sp, (int64_t)i, "slack",
		    i == 9 || i == 10 || i == 11 ? SPOOL_FAILED
						 : SPOOL_DELIVERED,
		    "HTTP 404", i == 9 ? 0xabcdef0123456789ull : 0);
	is_int(r, 0, "compact rp: all marked, 9 10 11 failed");
	is_int(spool_mark_detail(sp, 11, "pager", SPOOL_FAILED, "HTTP 500", 0),
	    0, "compact rp: 11 pager failed");
	is_int(spool_retry(sp, 10, "slack"), 0, "compact rp: 10 retried");
	is_int(spool_purge(sp, 11, "slack"), 0, "compact rp: 11 slack purged");
	is_int(spool_compact(sp), 1, "compact rp: compacted");
	spool_free(sp);
	memset(&d, 0, sizeof(d));
	r = spool_open(dir, &o, &sp, &d);
	is_int(r, 0, "compact rp: reopens");
	if (r != 0) {
		diag_note("%s:%u: %s", d.file, d.line, d.msg);
		exit(1);
	}
	al = alerts(sp);
	is_str(al.text,
	    "9:slack=failed(HTTP 404) 10:slack=pending 11:slack=purged "
	    "11:pager=failed(HTTP 500) ",
	    "compact rp: failed, retried and purged kept as they were");
	is_int(stats(sp).failed, 2, "compact rp: two failed");
	is_int(spool_alert_get(sp, 9, &info), 0, "compact rp: 9 info");
	ok(info.def[0] == 0xabcdef0123456789ull,
	    "compact rp: the definition kept");
	is_str(pending(sp, false).text, "10:slack ", "compact rp: 10 pending");
	ok(spool_alert_json(sp, 10) != NULL, "compact rp: with its text");
	ok(spool_seen(sp, "r", "e-11"), "compact rp: dedup kept");
	journal = read_journal(dir, NULL);
	ok(strstr(journal, "\"op\":\"purge\",\"job\":11,\"dest\":\"slack\"") !=
		NULL,
	    "compact rp: the purge line written");
	free(journal);
	spool_free(sp);
	buf_done(&b);
	free(want1);
	(void)tl_tmpdir_free(dir);
}

/* A child appends, syncs and dies without cleaning up. */
static void
test_crash(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct seen_list l;
	int to_child[2];
	int to_parent[2];
	int status = -1;
	char c = 0;
	pid_t pid;
	int r;

	if (pipe(to_child) < 0 || pipe(to_parent) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (spool_open(dir, NULL, &sp, NULL) != 0)
			_exit(1);
		if (append1(sp, "r", "e-crash", 7, dests2, 2) != 1 ||
		    spool_sync(sp) != 1)
			_exit(1);
		/* An unsynced second one: written, so it survives a
		 * process crash (not a power cut). */
		if (append1(sp, "r", "e-unsynced", 7, dests1, 1) != 2)
			_exit(1);
		if (write(to_parent[1], "x", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(1);
		/* A real crash: no cleanup, no exit handlers (and nothing
		 * for valgrind to call a leak). */
		(void)raise(SIGKILL);
		_exit(1);
	}
	if (read(to_parent[0], &c, 1) != 1)
		exit(2);
	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, -EBUSY, "crash: while the child runs, -EBUSY");
	if (write(to_child[1], "x", 1) != 1)
		exit(2);
	(void)waitpid(pid, &status, 0);
	is_int(WIFSIGNALED(status) ? WTERMSIG(status) : -1, SIGKILL,
	    "crash: the child was killed (SIGKILL) after appending");
	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "crash: reopens");
	l = pending(sp, false);
	is_str(l.text, "1:slack 1:pager 2:slack ", "crash: the jobs are there");
	ok(spool_seen(sp, "r", "e-crash"), "crash: identity persisted");
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
}

/* A full disk: RLIMIT_FSIZE makes write(2) stop half-way (EFBIG). */
static void
test_write_failure(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct rlimit old;
	struct rlimit lim;
	uint64_t size;
	int r;

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	is_int(append1(sp, "r", "e-1", 100, dests1, 1), 1, "full disk: job 1");
	size = stats(sp).journal_bytes;
	(void)signal(SIGXFSZ, SIG_IGN);
	(void)getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = size + 200;
	(void)setrlimit(RLIMIT_FSIZE, &lim);
	r = (int)append1(sp, "r", "e-2", 1000, dests1, 1);
	(void)setrlimit(RLIMIT_FSIZE, &old);
	is_int(r, -EFBIG, "full disk: the error as is");
	is_int(stats(sp).journal_bytes, size, "full disk: size unchanged");
	is_int(file_size(dir), (long long)size, "full disk: half line cut off");
	ok(!spool_seen(sp, "r", "e-2"), "full disk: not recorded");
	is_int(append1(sp, "r", "e-2", 1000, dests1, 1), 2,
	    "full disk: space again, appending goes on");
	is_int(spool_sync(sp), 2, "full disk: sync");
	spool_free(sp);
	r = spool_open(dir, NULL, &sp, NULL);
	is_int(r, 0, "full disk: the journal is clean");
	is_int(stats(sp).torn_tail, 0, "full disk: no torn line");
	is_int(stats(sp).pending, 2, "full disk: both jobs");
	spool_free(sp);
	(void)signal(SIGXFSZ, SIG_DFL);
	(void)tl_tmpdir_free(dir);
}

/* Seconds since t0. */
static double
elapsed(const struct timespec *t0)
{
	return tl_ms_since(t0) / 1e3;
}

static void
test_timing(void)
{
	char *dir = tl_tmpdir("test_spool");
	struct spool *sp = NULL;
	struct timespec t0;
	struct timespec ts;
	struct alert a;
	char ev[32];
	double sync_secs = 0;
	double secs;
	int i;
	int r = 0;

	if (spool_open(dir, NULL, &sp, NULL) != 0)
		exit(2);
	mk_alert(&a, "r", NULL, 600); /* a record of about 800 bytes */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 10000 && r >= 0; i++) {
		(void)snprintf(ev, sizeof(ev), "e-%d", i);
		free(a.event_id);
		a.event_id = strdup(ev);
		r = (int)spool_append(sp, &a, dests2, 2);
		if (r >= 0 && i % 100 == 99) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			r = spool_sync(sp);
			sync_secs += elapsed(&ts);
		}
	}
	secs = elapsed(&t0);
	is_int(r, 100, "timing: 10000 appends, 100 syncs");
	diag_note("10000 appends + 100 fdatasyncs: %.3f s (%.0f alerts/s; "
		  "%.3f s in fdatasync), journal %" PRIu64 " bytes",
	    secs, 10000 / secs, sync_secs, stats(sp).journal_bytes);
	alert_done(&a);
	spool_free(sp);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = spool_open(dir, NULL, &sp, NULL);
	secs = elapsed(&t0);
	is_int(r, 0, "timing: reopen");
	is_int(stats(sp).pending, 10000, "timing: 10000 pending after reopen");
	diag_note("replay of 10000 pending alerts: %.3f s", secs);
	spool_free(sp);
	(void)tl_tmpdir_free(dir);
}

int
main(void)
{
	test_hostile_lines();
	test_torn();
	test_open_errors();
	test_fd_cloexec();
	test_bad_args();
	test_dedup();
	test_outcomes();
	test_limits_and_clock();
	test_compact();
	test_retry_purge();
	test_crash();
	test_write_failure();
	test_timing();
	return done_testing();
}
