/*
 * driver.c: runs a fuzz target (fuzz.h) without libFuzzer, as a TAP test.
 *
 * With no arguments it runs every file of the target's seed corpus,
 * $TOP_SRCDIR/tests/fuzz/corpus/<name>/ (<name>: the program's name less
 * "fuzz_"; without TOP_SRCDIR, next to this source file), then
 * FUZZ_ITERATIONS inputs (default 3000; 300 under SMTRAIL_VALGRIND=1,
 * which is some 50 times slower) made by mutating the seeds with a seeded
 * PRNG: every run tries the same inputs, so a failure in `make check`
 * reproduces (FUZZ_SEED picks another sequence). With arguments it runs
 * those files, or every file of those directories, instead: that is how a
 * crash is replayed.
 *
 * Each input is handed over in a malloc'd block of exactly its size, so
 * that ASan and valgrind catch a read past its end. Before a crash kills
 * the process, the input is written to fuzz-<name>.crash in the current
 * directory: through the sanitizers' death callback when there is one,
 * else from a signal handler.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "fuzz.h"

/* The largest input made or read: above every seed, far below the caps. */
#define DRV_MAX_INPUT (256u << 10)
/* A file given on the command line may be bigger (a libFuzzer crash). */
#define DRV_MAX_FILE (64u << 20)
#define DRV_MAX_SEEDS 256
#define DRV_MIN_SEEDS 3
#define DRV_ITERATIONS 3000ul
#define DRV_ITERATIONS_VALGRIND 300ul
#define DRV_NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct drv_input {
	unsigned char *p;
	size_t len;
};

/* Tokens that parsers treat specially: JSON, YAML, gzip, templates. */
#define DRV_T(s)                                                               \
	{                                                                      \
		s, sizeof(s) - 1                                               \
	}
static const struct {
	const char *s;
	size_t len;
} drv_tokens[] = {
    DRV_T("\""),
    DRV_T("\\"),
    DRV_T("\\\""),
    DRV_T("{"),
    DRV_T("}"),
    DRV_T("["),
    DRV_T("]"),
    DRV_T(":"),
    DRV_T(","),
    DRV_T("\0"),
    DRV_T("\\u0000"),
    DRV_T("\\ud800"),
    DRV_T("\\udfff"),
    DRV_T("\\u002e"),
    DRV_T("\\u0065"),
    DRV_T("\xc0\x80"),
    DRV_T("\xed\xa0\x80"),
    DRV_T("\xf4\x90\x80\x80"),
    DRV_T("\xff\xfe"),
    DRV_T("null"),
    DRV_T("true"),
    DRV_T("1e999999"),
    DRV_T("-0"),
    DRV_T("-9223372036854775809"),
    DRV_T("18446744073709551616"),
    DRV_T("99999999999999999999999999999999"),
    DRV_T("0.0000000000000000000000000000001"),
    DRV_T("NaN"),
    DRV_T("\x1f\x8b"),
    DRV_T("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"),
    DRV_T("\"Records\":["),
    DRV_T("\"eventSource\":\"secretsmanager.amazonaws.com\""),
    DRV_T("{\"eventSource\":\"secretsmanager.amazonaws.com\"},"),
    DRV_T("secretsmanager.amazonaws.com"),
    DRV_T("\"eventName\":\"DeleteSecret\""),
    DRV_T("\"Type\":\"Notification\",\"Message\":"),
    DRV_T("\"s3Bucket\":\"b\",\"s3ObjectKey\":[\"k.json.gz\"]"),
    DRV_T("\"detail-type\":\"AWS API Call via CloudTrail\""),
    DRV_T("CloudTrail-Digest/"),
    DRV_T(".json.gz"),
    DRV_T("%2"),
    DRV_T("%00"),
    DRV_T("+"),
    DRV_T(": "),
    DRV_T("\n- "),
    DRV_T("\n  "),
    DRV_T("\t"),
    DRV_T("\r\n"),
    DRV_T("? "),
    DRV_T("&a "),
    DRV_T("*a"),
    DRV_T("!!str "),
    DRV_T("|\n"),
    DRV_T(">-\n"),
    DRV_T("---\n"),
    DRV_T("...\n"),
    DRV_T("%YAML 1.2\n"),
    DRV_T("#"),
    DRV_T("'"),
    DRV_T("~"),
    DRV_T("{{"),
    DRV_T("}}"),
    DRV_T("{{secretId}}"),
    DRV_T("{{a..b}}"),
    DRV_T("0x1f"),
    DRV_T(".inf"),
    DRV_T("366d"),
    DRV_T("99999999999999999999s"),
    DRV_T("2GiB"),
    DRV_T("credential:"),
    DRV_T("_file: /nonexistent"),
    DRV_T("not: "),
    DRV_T("any: ["),
    DRV_T("regex: "),
    DRV_T("(a{255}){255}"),
    DRV_T("()"),
    DRV_T("{255}"),
    DRV_T("[[:alpha:]]\\1"),
    DRV_T("cidr: ::ffff:10.0.0.0/104"),
    DRV_T("gt: 1e308"),
    DRV_T("[::1]:9410"),
};

static const unsigned char drv_bytes[] = {0x00, 0x01, 0x1f, 0x20, 0x7f, 0x80,
    0x8b, 0xc3, 0xff, '"', '\\', '{', '}', '[', ']', ':', ',', '\n', '%', '#',
    '-', '&', '*', '!', '.', '0', '9'};

static const char *drv_name;
static const unsigned char *drv_cur;
static size_t drv_cur_len;
static uint64_t drv_rng;

/* xorshift64*: small, fast, and the same sequence everywhere. */
static uint64_t
drv_next(void)
{
	drv_rng ^= drv_rng >> 12;
	drv_rng ^= drv_rng << 25;
	drv_rng ^= drv_rng >> 27;
	return drv_rng * 0x2545f4914f6cdd1dull;
}

/* A number in [0, n); 0 when n is 0. */
static size_t
drv_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(drv_next() % n);
}

/* Async-signal-safe: only open, write and close. */
static void
drv_save_crash(void)
{
	static const char note[] = "# crashing input saved to fuzz-";
	static volatile sig_atomic_t saved;
	char path[128];
	size_t n = strlen(drv_name);
	int fd;

	if (drv_cur == NULL || n > sizeof(path) - 16 || saved)
		return;
	saved = 1;
	memcpy(path, "fuzz-", 5);
	memcpy(path + 5, drv_name, n);
	memcpy(path + 5 + n, ".crash", 7);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	(void)!write(fd, drv_cur, drv_cur_len);
	(void)close(fd);
	(void)!write(STDERR_FILENO, note, sizeof(note) - 1);
	(void)!write(STDERR_FILENO, drv_name, n);
	(void)!write(STDERR_FILENO, ".crash\n", 7);
}

static void
drv_on_signal(int sig)
{
	drv_save_crash();
	/* SA_RESETHAND put the default action back: die of sig. */
	(void)raise(sig);
}

/* Present when linked with a sanitizer runtime; weak: NULL otherwise. */
extern void __sanitizer_set_death_callback(void (*cb)(void))
    __attribute__((weak));

static void
drv_catch_crashes(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
	/* A stack overflow leaves no stack to run the handler on. */
	static char alt[1u << 16];
	stack_t ss;
	struct sigaction sa;
	size_t i;
	size_t n = DRV_NELEM(sigs);

	/*
	 * Sanitizers handle SIGSEGV and friends themselves, and replacing
	 * that would lose their report: use their hook, and catch only
	 * abort() (a target's broken promise), which they leave alone.
	 */
	if (__sanitizer_set_death_callback != NULL) {
		__sanitizer_set_death_callback(drv_save_crash);
		n = 1;
	}
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = alt;
	ss.ss_size = sizeof(alt);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = drv_on_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	if (n > 1 && sigaltstack(&ss, NULL) == 0)
		sa.sa_flags |= SA_ONSTACK;
	(void)sigemptyset(&sa.sa_mask);
	for (i = 0; i < n; i++)
		(void)sigaction(sigs[i], &sa, NULL);
}

/* One input, in a block of exactly its size. */
static void
drv_run(const unsigned char *p, size_t len)
{
	unsigned char *copy = malloc(len > 0 ? len : 1);

	if (copy == NULL) {
		(void)fprintf(stderr, "fuzz: out of memory\n");
		abort();
	}
	if (len > 0)
		memcpy(copy, p, len);
	drv_cur = copy;
	drv_cur_len = len;
	(void)LLVMFuzzerTestOneInput(copy, len);
	drv_cur = NULL;
	free(copy);
}

/* The whole of path, if it holds at most max bytes. */
static int
drv_read_file(const char *path, size_t max, struct drv_input *ret)
{
	struct drv_input in = {NULL, 0};
	struct stat st;
	FILE *f;
	int r = 0;

	f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	else if ((uint64_t)st.st_size > max)
		r = -E2BIG;
	if (r == 0) {
		in.len = (size_t)st.st_size;
		in.p = malloc(in.len + 1);
		if (in.p == NULL)
			r = -ENOMEM;
		else if (fread(in.p, 1, in.len, f) != in.len)
			r = -EIO;
	}
	(void)fclose(f);
	if (r < 0) {
		free(in.p);
		return r;
	}
	*ret = in;
	return 0;
}

static bool
drv_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Hidden files (.keep, editor droppings) are not inputs. */
static int
drv_filter(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

/*
 * Reads every file of dir into seeds (at most max). Returns how many, or a
 * negative errno for the directory itself.
 */
static int
drv_load_dir(const char *dir, struct drv_input *seeds, size_t max,
    size_t max_len)
{
	struct dirent **names;
	char path[4096];
	int n;
	int i;
	int got = 0;

	n = scandir(dir, &names, drv_filter, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		struct drv_input in;
		int len = snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name);

		if (len > 0 && (size_t)len < sizeof(path) &&
		    (size_t)got < max && !drv_is_dir(path) &&
		    drv_read_file(path, max_len, &in) == 0)
			seeds[got++] = in;
		else
			diag_note("skipped %s/%s", dir, names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return got;
}

static void
drv_free_inputs(struct drv_input *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(in[i].p);
}

/* ---- mutations ------------------------------------------------------- */

static void
drv_insert(struct drv_input *w, size_t at, const void *p, size_t len)
{
	if (len > DRV_MAX_INPUT - w->len)
		len = DRV_MAX_INPUT - w->len;
	memmove(w->p + at + len, w->p + at, w->len - at);
	memcpy(w->p + at, p, len);
	w->len += len;
}

static void
drv_overwrite(struct drv_input *w, size_t at, const void *p, size_t len)
{
	if (len > w->len - at)
		len = w->len - at;
	memcpy(w->p + at, p, len);
}

/* A length for a range at at: mostly short, sometimes long. */
static size_t
drv_span(const struct drv_input *w, size_t at)
{
	size_t room = w->len - at;
	size_t n = drv_below(4) == 0 ? drv_below(room + 1) : drv_below(16) + 1;

	return n < room ? n : room;
}

/* A run of one byte: deep nesting, long strings, long blanks. */
static void
drv_repeat(struct drv_input *w, size_t at)
{
	static const unsigned char run[] = "[{ a\"\\-";
	unsigned char buf[1024];
	size_t n = drv_below(sizeof(buf)) + 1;

	memset(buf, run[drv_below(sizeof(run) - 1)], n);
	drv_insert(w, at, buf, n);
}

/* Head of w up to a random point, then the tail of another seed. */
static void
drv_splice(struct drv_input *w, const struct drv_input *seeds, size_t nseeds)
{
	const struct drv_input *o = &seeds[drv_below(nseeds)];
	size_t from = drv_below(o->len + 1);
	size_t n = o->len - from;

	w->len = drv_below(w->len + 1);
	if (n > DRV_MAX_INPUT - w->len)
		n = DRV_MAX_INPUT - w->len;
	memcpy(w->p + w->len, o->p + from, n);
	w->len += n;
}

static void
drv_mutate_once(struct drv_input *w, const struct drv_input *seeds,
    size_t nseeds)
{
	size_t at = drv_below(w->len + 1);
	size_t k;
	size_t n;

	switch (drv_below(10)) {
	case 0: /* flip a bit */
		if (at < w->len)
			w->p[at] ^= (unsigned char)(1u << drv_below(8));
		break;
	case 1: /* a special byte */
		if (at < w->len)
			w->p[at] = drv_bytes[drv_below(sizeof(drv_bytes))];
		break;
	case 2: /* a random byte */
		if (at < w->len)
			w->p[at] = (unsigned char)drv_next();
		break;
	case 3:
		k = drv_below(DRV_NELEM(drv_tokens));
		drv_insert(w, at, drv_tokens[k].s, drv_tokens[k].len);
		break;
	case 4:
		k = drv_below(DRV_NELEM(drv_tokens));
		drv_overwrite(w, at, drv_tokens[k].s, drv_tokens[k].len);
		break;
	case 5: /* delete a range */
		n = drv_span(w, at);
		memmove(w->p + at, w->p + at + n, w->len - at - n);
		w->len -= n;
		break;
	case 6: { /* copy a range elsewhere */
		unsigned char buf[4096];

		n = drv_span(w, at);
		n = n < sizeof(buf) ? n : sizeof(buf);
		memcpy(buf, w->p + at, n);
		drv_insert(w, drv_below(w->len + 1), buf, n);
		break;
	}
	case 7:
		w->len = at;
		break;
	case 8:
		drv_splice(w, seeds, nseeds);
		break;
	default:
		drv_repeat(w, at);
		break;
	}
}

/* iterations inputs, each a seed (or nothing) with 1 to 4 mutations. */
static void
drv_mutations(const struct drv_input *seeds, size_t nseeds,
    unsigned long iterations)
{
	struct drv_input w;
	unsigned long i;

	w.p = malloc(DRV_MAX_INPUT);
	if (w.p == NULL) {
		(void)fprintf(stderr, "fuzz: out of memory\n");
		abort();
	}
	for (i = 0; i < iterations; i++) {
		size_t k = drv_below(nseeds + 1);
		size_t m = drv_below(4) + 1;

		/* One time in nseeds + 1, start from nothing. */
		w.len = k < nseeds ? seeds[k].len : 0;
		if (w.len > DRV_MAX_INPUT)
			w.len = DRV_MAX_INPUT;
		if (w.len > 0)
			memcpy(w.p, seeds[k].p, w.len);
		while (m-- > 0)
			drv_mutate_once(&w, seeds, nseeds);
		drv_run(w.p, w.len);
	}
	free(w.p);
}

/* ---- main ------------------------------------------------------------ */

static unsigned long
drv_env_ulong(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0') {
		diag_note("ignoring %s='%s': not a number", name, s);
		return dflt;
	}
	return v;
}

/* argv[0] less its directory and the "fuzz_" prefix. */
static const char *
drv_target_name(const char *argv0)
{
	const char *s = strrchr(argv0, '/');

	s = s != NULL ? s + 1 : argv0;
	return strncmp(s, "fuzz_", 5) == 0 ? s + 5 : s;
}

/* Every file of dir, one at a time (a libFuzzer corpus can be large). */
static int
drv_run_dir(const char *dir)
{
	struct dirent **names;
	struct drv_input in;
	char path[4096];
	int n;
	int i;
	int r;
	int ran = 0;

	n = scandir(dir, &names, drv_filter, alphasort);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		r = snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name);
		free(names[i]);
		if (r < 0 || (size_t)r >= sizeof(path) || drv_is_dir(path) ||
		    drv_read_file(path, DRV_MAX_FILE, &in) < 0) {
			diag_note("skipped %s", path);
			continue;
		}
		drv_run(in.p, in.len);
		free(in.p);
		ran++;
	}
	free(names);
	return ran;
}

/* One ok() per path given: replaying a crash or a libFuzzer corpus. */
static int
drv_replay(int argc, char **argv)
{
	struct drv_input in;
	int i;
	int r;

	for (i = 1; i < argc; i++) {
		if (drv_is_dir(argv[i])) {
			r = drv_run_dir(argv[i]);
			ok(r >= 0, "%s: %d inputs ran, no crash", argv[i], r);
			continue;
		}
		r = drv_read_file(argv[i], DRV_MAX_FILE, &in);
		if (r == 0) {
			drv_run(in.p, in.len);
			free(in.p);
		}
		ok(r == 0, "%s ran, %s", argv[i],
		    r == 0 ? "no crash" : strerror(-r));
	}
	return done_testing();
}

int
main(int argc, char **argv)
{
	static struct drv_input seeds[DRV_MAX_SEEDS];
	const char *top = getenv("TOP_SRCDIR");
	bool valgrind = getenv("SMTRAIL_VALGRIND") != NULL &&
	    strcmp(getenv("SMTRAIL_VALGRIND"), "1") == 0;
	unsigned long iterations;
	char dir[4096];
	int n;
	int k;

	drv_name = drv_target_name(argv[0]);
	drv_catch_crashes();
	if (argc > 1)
		return drv_replay(argc, argv);

	if (top != NULL && *top != '\0') {
		(void)snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top,
		    drv_name);
	} else {
		const char *slash = strrchr(__FILE__, '/');
		int len = slash != NULL ? (int)(slash - __FILE__) : 1;

		(void)snprintf(dir, sizeof(dir), "%.*s/corpus/%s", len,
		    slash != NULL ? __FILE__ : ".", drv_name);
	}
	n = drv_load_dir(dir, seeds, DRV_MAX_SEEDS, DRV_MAX_INPUT);
	for (k = 0; k < n; k++)
		drv_run(seeds[k].p, seeds[k].len);
	if (!ok(n >= DRV_MIN_SEEDS, "%d seeds from %s ran, no crash", n, dir))
		diag_note("want at least %d seeds: %s", DRV_MIN_SEEDS,
		    n < 0 ? strerror(-n) : "too few files");

	iterations = drv_env_ulong("FUZZ_ITERATIONS",
	    valgrind ? DRV_ITERATIONS_VALGRIND : DRV_ITERATIONS);
	/* The name in the seed: each target walks its own sequence. */
	drv_rng = drv_env_ulong("FUZZ_SEED", 0x9e3779b97f4a7c15ul) ^
	    fuzz_hash((const uint8_t *)drv_name, strlen(drv_name));
	if (drv_rng == 0)
		drv_rng = 1;
	drv_mutations(seeds, n > 0 ? (size_t)n : 0, iterations);
	ok(1, "%lu mutations ran, no crash", iterations);
	if (n > 0)
		drv_free_inputs(seeds, (size_t)n);
	return done_testing();
}
