/*
 * bench/store.c: the engine's state store (src/store.c) at scale.
 *
 *   store [-n KEYS] [-s SYNC_EVERY] DIR
 *
 * In DIR (it must exist; a state.journal there is removed first), puts
 * KEYS (default 1,000,000) first_seen-style keys: distinct, empty values,
 * expiries spread over a day; syncs every SYNC_EVERY puts (default 10,000,
 * a busy pass) and at the end; gets every key back; closes, reopens
 * (replays the journal) and checks every key again. One line:
 *
 *   keys=N maxrss_mb=M put_ns=P get_ns=G key_ns=K sync_s=S
 *   journal_bytes=J open_s=O
 *
 * maxrss_mb is ru_maxrss: the peak over the whole run, the table's growth
 * and the replay included. The keys are 64-bit hashes, as store_key()
 * makes them; here splitmix64 of 1..N, which costs next to nothing, so
 * put_ns and get_ns are the store's own (put_ns with the journal's writes,
 * not its fsyncs: sync_s is their total); key_ns is what store_key() of a
 * typical key (rule, kind, an IAM user ARN) costs on top.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "store.h"

#define BENCH_ARNS 1024

static double
now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
key_of(uint64_t i)
{
	uint64_t z = i * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z != 0 ? z : 1;
}

static void
die(const char *what, int r, const struct diag *d)
{
	fprintf(stderr, "bench/store: %s: %s%s%s\n", what, strerror(-r),
	    d != NULL && d->msg[0] != '\0' ? ": " : "",
	    d != NULL ? d->msg : "");
	exit(1);
}

static struct store *
open_store(const char *dir)
{
	struct store *s = NULL;
	struct diag d;
	int r;

	memset(&d, 0, sizeof(d));
	r = store_local_open(dir, NULL, &s, &d);
	if (r < 0)
		die("open", r, &d);
	return s;
}

/* Every key 1..n held, with its expiry; how many are not. */
static uint64_t
check(struct store *s, uint64_t n, uint64_t base)
{
	uint64_t bad = 0;
	uint64_t e;
	uint64_t i;

	for (i = 1; i <= n; i++)
		if (store_get(s, key_of(i), NULL, NULL, &e) != 1 ||
		    e != base + i % 86400)
			bad++;
	return bad;
}

int
main(int argc, char **argv)
{
	const uint64_t base = 1800000000; /* expiries: 2027, a day's spread */
	const char *parts[3] = {"new-user-reads-secret", "first_seen", NULL};
	struct store_stats st;
	struct store *s;
	struct rusage ru;
	char path[4096];
	static char arns[BENCH_ARNS][64];
	uint64_t n = 1000000;
	uint64_t every = 10000;
	uint64_t sink = 0;
	uint64_t i;
	double t0;
	double t_put;
	double sync_s = 0;
	double put_s;
	double get_s;
	double key_s;
	double open_s;
	int opt;
	int r;

	while ((opt = getopt(argc, argv, "n:s:")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 's':
			every = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			    "usage: store [-n KEYS] [-s EVERY] DIR\n");
			return 2;
		}
	}
	if (optind != argc - 1 || n == 0 || every == 0) {
		fprintf(stderr, "usage: store [-n KEYS] [-s EVERY] DIR\n");
		return 2;
	}
	(void)snprintf(path, sizeof(path), "%s/state.journal", argv[optind]);
	if (unlink(path) < 0 && errno != ENOENT)
		die("unlink", -errno, NULL);

	s = open_store(argv[optind]);
	t_put = now();
	for (i = 1; i <= n; i++) {
		r = store_put(s, key_of(i), NULL, 0, base + i % 86400);
		if (r < 0)
			die("put", r, NULL);
		if (i % every == 0 || i == n) {
			t0 = now();
			r = store_sync(s);
			sync_s += now() - t0;
			if (r < 0)
				die("sync", r, NULL);
		}
	}
	put_s = now() - t_put - sync_s;
	t0 = now();
	if (check(s, n, base) != 0)
		die("get", -EIO, NULL);
	get_s = now() - t0;
	for (i = 0; i < BENCH_ARNS; i++)
		(void)snprintf(arns[i], sizeof(arns[i]),
		    "arn:aws:iam::123456789012:user/u%" PRIu64, i);
	t0 = now();
	for (i = 0; i < n; i++) {
		parts[2] = arns[i % BENCH_ARNS];
		sink += store_key(parts, 3);
	}
	key_s = now() - t0;
	store_stats(s, &st);
	if (st.keys != n)
		die("count", -EIO, NULL);
	store_free(s);

	t0 = now();
	s = open_store(argv[optind]);
	open_s = now() - t0;
	if (check(s, n, base) != 0)
		die("reopened", -EIO, NULL);
	store_free(s);

	(void)getrusage(RUSAGE_SELF, &ru);
	printf("keys=%" PRIu64 " maxrss_mb=%.1f put_ns=%.0f get_ns=%.0f "
	       "key_ns=%.0f sync_s=%.3f journal_bytes=%" PRIu64
	       " open_s=%.3f%s\n",
	    n, (double)ru.ru_maxrss / 1024, put_s / (double)n * 1e9,
	    get_s / (double)n * 1e9, key_s / (double)n * 1e9, sync_s,
	    st.journal_bytes, open_s, sink == 42 ? " " : "");
	return 0;
}
