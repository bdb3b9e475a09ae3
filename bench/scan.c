/*
 * bench/scan.c: the in-process ("warm") half of the benchmark.
 *
 *   scan -m MODE [-r N] [-c CHUNK] [-l IDS_OUT] [-k A,B] FILE.json.gz
 *
 * Reads FILE into memory once, then runs MODE over it N times (after one
 * untimed warm-up run), every buffer reused, and prints one line:
 *
 *   mode=M inflater=I kernel=K json_bytes=B records=R matched=S secs=T
 *   mbps=X eps=Y maxrss_kb=Z
 *
 * secs is the median of the N runs' wall time, min the fastest, cpu the
 * median CPU time (less disturbed by other load); mbps is MB (10^6 bytes) of
 * inflated JSON per second, eps events (records) per second, both from
 * secs; maxrss_kb the process's peak RSS (the compressed file held in
 * memory included).
 *
 * Modes, all fed the compressed bytes CHUNK (default 256 KiB, what replay
 * reads) at a time:
 *   trail         trail_feed/trail_finish, the scanner as smtrail runs it,
 *                 with the fastest kernel the CPU has
 *   trail-scalar  the same with the portable byte-at-a-time kernel
 *   trail-avx2    the same with the AVX2 kernel (no AVX-512 prefilter)
 *   zlib          zlib inflate alone into a reused 128 KiB window
 *   isal          ISA-L inflate alone, the same way (when built with it)
 *   pair          zlib alone, isa-l alone and trail in turn, N times: the
 *                 medians of each and of the per-turn ratios (one line,
 *                 zlib= isal= trail= ratio_zlib= ratio_isal=)
 *   kpair         two scanners, with kernels A and B (-k, names as
 *                 trail_kernel_str() gives them), in turn, N times, the
 *                 order alternating: the medians of each, of the per-turn
 *                 ratios of throughput (A over B, wall and CPU time) and
 *                 their least and greatest (one line, a= b= ratio= ...).
 *                 FILE may be plain JSON too.
 *   jsonc         zlib-inflate the whole document into one buffer, parse
 *                 it with json-c, walk Records for Secrets Manager events
 *                 (the obvious way; RSS shows what it costs)
 * With -l, the eventIDs delivered (trail, jsonc) go to IDS_OUT, one a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <zlib.h>
#ifdef BENCH_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "diag.h"
#include "trail.h"

#define SM "secretsmanager.amazonaws.com"
#define WINDOW (128u << 10)

struct run {
	uint64_t json;
	uint64_t records;
	uint64_t matched;
	FILE *ids; /* NULL: do not list */
};

static unsigned char *bench_win;

static double
now(clockid_t clk)
{
	struct timespec ts;

	(void)clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	(void)fprintf(stderr, "scan: %s\n", what);
	exit(1);
}

static int
on_record(struct json_object *rec, struct span raw, void *arg)
{
	struct run *rn = arg;
	struct json_object *id;

	(void)raw;
	if (rn->ids != NULL && json_object_object_get_ex(rec, "eventID", &id))
		(void)fprintf(rn->ids, "%s\n", json_object_get_string(id));
	return 0;
}

static void
run_trail(struct trail *t, const unsigned char *p, size_t len, size_t chunk,
    struct run *rn)
{
	const struct trail_stats *st;
	struct diag d;
	size_t off;
	size_t n;
	char msg[600];

	trail_reset(t);
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (trail_feed(t, p + off, n, on_record, rn, &d) < 0)
			die(diag_format(&d, msg, sizeof(msg)));
	}
	if (trail_finish(t, on_record, rn, &d) < 0)
		die(diag_format(&d, msg, sizeof(msg)));
	st = trail_stats(t);
	rn->json = st->bytes_json;
	rn->records = st->records;
	rn->matched = st->matched;
}

static void
run_zlib(z_stream *s, const unsigned char *p, size_t len, size_t chunk,
    struct run *rn)
{
	size_t off = 0;
	int ret = Z_OK;

	(void)inflateReset(s);
	rn->json = 0;
	while (ret != Z_STREAM_END) {
		if (s->avail_in == 0) {
			if (off == len)
				die("zlib: truncated");
			s->next_in = (Bytef *)(uintptr_t)(p + off);
			s->avail_in =
			    (uInt)(len - off < chunk ? len - off : chunk);
			off += s->avail_in;
		}
		s->next_out = bench_win;
		s->avail_out = WINDOW;
		ret = inflate(s, Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
			die("zlib: inflate failed");
		rn->json += WINDOW - s->avail_out;
	}
	s->avail_in = 0;
}

#ifdef BENCH_ISAL
static void
run_isal(struct inflate_state *s, const unsigned char *p, size_t len,
    size_t chunk, struct run *rn)
{
	size_t off = 0;
	int ret;

	isal_inflate_reset(s);
	s->crc_flag = ISAL_GZIP;
	rn->json = 0;
	while (s->block_state != ISAL_BLOCK_FINISH) {
		if (s->avail_in == 0) {
			if (off == len)
				die("isa-l: truncated");
			s->next_in = (uint8_t *)(uintptr_t)(p + off);
			s->avail_in =
			    (uint32_t)(len - off < chunk ? len - off : chunk);
			off += s->avail_in;
		}
		s->next_out = bench_win;
		s->avail_out = WINDOW;
		ret = isal_inflate(s);
		if (ret != ISAL_DECOMP_OK)
			die("isa-l: inflate failed");
		rn->json += WINDOW - s->avail_out;
	}
	s->avail_in = 0;
}
#endif

static void
run_jsonc(z_stream *s, const unsigned char *p, size_t len, struct run *rn)
{
	struct json_object *root;
	struct json_object *recs;
	struct json_tokener *tok;
	unsigned char *doc = NULL;
	size_t cap = 0;
	size_t have = 0;
	size_t i;
	int ret = Z_OK;

	(void)inflateReset(s);
	s->next_in = (Bytef *)(uintptr_t)p;
	s->avail_in = (uInt)len;
	while (ret != Z_STREAM_END) {
		if (cap - have < WINDOW) {
			cap = cap != 0 ? cap * 2 : 8 * len;
			doc = realloc(doc, cap);
			if (doc == NULL)
				die("out of memory");
		}
		s->next_out = doc + have;
		s->avail_out = (uInt)(cap - have);
		ret = inflate(s, Z_NO_FLUSH);
		if (ret != Z_OK && ret != Z_STREAM_END)
			die("zlib: inflate failed");
		have = cap - s->avail_out;
	}
	if (have > INT32_MAX)
		die("json-c: document over 2 GB");
	tok = json_tokener_new_ex(64);
	root = json_tokener_parse_ex(tok, (const char *)doc, (int)have);
	if (root == NULL)
		die("json-c: parse failed");
	json_tokener_free(tok);
	rn->json = have;
	rn->records = 0;
	rn->matched = 0;
	if (json_object_object_get_ex(root, "Records", &recs))
		for (i = 0; i < json_object_array_length(recs); i++) {
			struct json_object *rec;
			struct json_object *src;

			rec = json_object_array_get_idx(recs, i);
			rn->records++;
			if (json_object_object_get_ex(rec, "eventSource",
				&src) &&
			    strcmp(json_object_get_string(src), SM) == 0) {
				rn->matched++;
				(void)on_record(rec, (struct span){NULL, 0},
				    rn);
			}
		}
	json_object_put(root);
	free(doc);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 != 0 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#ifdef BENCH_ISAL
/*
 * zlib alone, isa-l alone and the scan, one after the other, n times, the
 * order rotating: the three see the same machine, whatever the other core
 * is doing (on a shared VM that moves each by a quarter). Prints the
 * medians and the medians of the per-turn ratios of throughput.
 */
static void
run_pair(struct trail *t, z_stream *zs, struct inflate_state *is,
    const unsigned char *file, size_t len, size_t chunk, unsigned n,
    const char *ids_path)
{
	double *v[3];
	double *rz;
	double *ri;
	double s[3];
	struct run rn[3];
	struct rusage ru;
	unsigned i;
	unsigned j;

	for (j = 0; j < 3; j++) {
		v[j] = calloc(n, sizeof(double));
		if (v[j] == NULL)
			die("out of memory");
	}
	rz = calloc(n, sizeof(double));
	ri = calloc(n, sizeof(double));
	if (rz == NULL || ri == NULL)
		die("out of memory");
	memset(rn, 0, sizeof(rn));
	for (i = 0; i <= n; i++) {
		/* The warm-up lists the eventIDs. */
		rn[2].ids = NULL;
		if (i == 0 && ids_path != NULL) {
			rn[2].ids = fopen(ids_path, "w");
			if (rn[2].ids == NULL)
				die("cannot write the ids");
		}
		for (j = 0; j < 3; j++) {
			unsigned w = (i + j) % 3;
			double start = now(CLOCK_MONOTONIC);

			if (w == 0)
				run_zlib(zs, file, len, chunk, &rn[0]);
			else if (w == 1)
				run_isal(is, file, len, chunk, &rn[1]);
			else
				run_trail(t, file, len, chunk, &rn[2]);
			s[w] = now(CLOCK_MONOTONIC) - start;
		}
		if (rn[2].ids != NULL && fclose(rn[2].ids) != 0)
			die("cannot write the ids");
		if (i == 0)
			continue; /* warm-up */
		for (j = 0; j < 3; j++)
			v[j][i - 1] = s[j];
		rz[i - 1] = s[0] / s[2];
		ri[i - 1] = s[1] / s[2];
	}
	if (rn[0].json != rn[2].json || rn[1].json != rn[2].json)
		die("the inflaters and the scan disagree on the size");
	(void)getrusage(RUSAGE_SELF, &ru);
	printf("mode=pair kernel=%s json_bytes=%" PRIu64 " records=%" PRIu64
	       " matched=%" PRIu64 " zlib=%.6f isal=%.6f trail=%.6f"
	       " ratio_zlib=%.3f ratio_isal=%.3f maxrss_kb=%ld\n",
	    trail_kernel_str(trail_kernel(t)), rn[2].json, rn[2].records,
	    rn[2].matched, median(v[0], n), median(v[1], n), median(v[2], n),
	    median(rz, n), median(ri, n), ru.ru_maxrss);
	for (j = 0; j < 3; j++)
		free(v[j]);
	free(rz);
	free(ri);
}
#endif

static enum trail_kernel
kernel_named(const char *name, size_t len)
{
	enum trail_kernel k;

	for (k = TRAIL_KERNEL_SCALAR; k < TRAIL_KERNEL_COUNT; k++)
		if (strlen(trail_kernel_str(k)) == len &&
		    strncmp(trail_kernel_str(k), name, len) == 0)
			return k;
	die("unknown kernel (-k A,B)");
	return TRAIL_KERNEL_AUTO;
}

/*
 * Kernels A and B in turn, n times after a warm-up, A first on even turns:
 * what run_pair() does for the inflaters, for two kernels. Each turn's
 * ratio is B's time over A's (above 1: A is faster), by the wall clock and
 * by this process's CPU time (which the other core's load moves less).
 */
static void
run_kpair(const char *spec, const unsigned char *file, size_t len, size_t chunk,
    unsigned n)
{
	const char *comma = strchr(spec, ',');
	struct trail *t[2];
	struct run rn[2];
	struct rusage ru;
	double *v[6]; /* wall a, b, cpu a, b, ratio wall, ratio cpu */
	double lo[2];
	double hi[2];
	double s[2];
	double c[2];
	unsigned i;
	unsigned j;

	if (comma == NULL)
		die("-k A,B: two kernels");
	for (j = 0; j < 2; j++) {
		enum trail_kernel k = j == 0
		    ? kernel_named(spec, (size_t)(comma - spec))
		    : kernel_named(comma + 1, strlen(comma + 1));

		if (trail_new(&t[j]) < 0)
			die("trail_new");
		if (trail_set_kernel(t[j], k) < 0)
			die("kernel not on this CPU");
	}
	for (j = 0; j < 6; j++) {
		v[j] = calloc(n, sizeof(double));
		if (v[j] == NULL)
			die("out of memory");
	}
	memset(rn, 0, sizeof(rn));
	for (i = 0; i <= n; i++) {
		for (j = 0; j < 2; j++) {
			unsigned w = (i + j) % 2;
			double start = now(CLOCK_MONOTONIC);
			double start_cpu = now(CLOCK_PROCESS_CPUTIME_ID);

			run_trail(t[w], file, len, chunk, &rn[w]);
			s[w] = now(CLOCK_MONOTONIC) - start;
			c[w] = now(CLOCK_PROCESS_CPUTIME_ID) - start_cpu;
		}
		if (i == 0)
			continue; /* warm-up */
		v[0][i - 1] = s[0];
		v[1][i - 1] = s[1];
		v[2][i - 1] = c[0];
		v[3][i - 1] = c[1];
		v[4][i - 1] = s[1] / s[0];
		v[5][i - 1] = c[1] / c[0];
	}
	if (rn[0].json != rn[1].json || rn[0].records != rn[1].records ||
	    rn[0].matched != rn[1].matched)
		die("the two kernels disagree");
	for (j = 0; j < 2; j++) {
		qsort(v[4 + j], n, sizeof(double), cmp_double);
		lo[j] = v[4 + j][0];
		hi[j] = v[4 + j][n - 1];
	}
	(void)getrusage(RUSAGE_SELF, &ru);
	printf("mode=kpair inflater=%s a=%s b=%s json_bytes=%" PRIu64
	       " records=%" PRIu64 " matched=%" PRIu64
	       " secs_a=%.6f secs_b=%.6f cpu_a=%.6f cpu_b=%.6f"
	       " ratio=%.4f ratio_min=%.4f ratio_max=%.4f"
	       " ratio_cpu=%.4f ratio_cpu_min=%.4f ratio_cpu_max=%.4f"
	       " maxrss_kb=%ld\n",
	    trail_inflater(), trail_kernel_str(trail_kernel(t[0])),
	    trail_kernel_str(trail_kernel(t[1])), rn[0].json, rn[0].records,
	    rn[0].matched, median(v[0], n), median(v[1], n), median(v[2], n),
	    median(v[3], n), median(v[4], n), lo[0], hi[0], median(v[5], n),
	    lo[1], hi[1], ru.ru_maxrss);
	for (j = 0; j < 6; j++)
		free(v[j]);
	trail_free(t[0]);
	trail_free(t[1]);
}

int
main(int argc, char **argv)
{
	const char *mode = "trail";
	const char *ids_path = NULL;
	const char *kpair = NULL;
	const char *kernel = "-";
	unsigned rounds = 5;
	size_t chunk = 256u << 10;
	struct trail *t = NULL;
	struct rusage ru;
	struct stat sb;
	struct run rn;
	z_stream zs;
	double *secs;
	double *cpu;
	double med;
	unsigned char *file;
	unsigned i;
	int fd;
	int opt;
#ifdef BENCH_ISAL
	static struct inflate_state is;
#endif

	while ((opt = getopt(argc, argv, "m:r:c:l:k:")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			chunk = strtoul(optarg, NULL, 10);
			break;
		case 'l':
			ids_path = optarg;
			break;
		case 'k':
			kpair = optarg;
			break;
		default:
			die("usage: scan -m MODE [-r N] [-c CHUNK] [-l IDS] "
			    "[-k A,B] FILE");
		}
	}
	if (optind != argc - 1 || rounds == 0 || chunk == 0)
		die("usage: scan -m MODE [-r N] [-c CHUNK] [-l IDS] [-k A,B] "
		    "FILE");
	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0)
		die("cannot open the file");
	file = malloc((size_t)sb.st_size + 1);
	if (file == NULL ||
	    read(fd, file, (size_t)sb.st_size) != (ssize_t)sb.st_size)
		die("cannot read the file");
	(void)close(fd);
	bench_win = malloc(WINDOW);
	secs = calloc(rounds, sizeof(*secs));
	cpu = calloc(rounds, sizeof(*cpu));
	if (bench_win == NULL || secs == NULL || cpu == NULL)
		die("out of memory");
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		die("zlib: init");
#ifdef BENCH_ISAL
	isal_inflate_init(&is);
#endif
	if (strncmp(mode, "trail", 5) == 0) {
		if (trail_new(&t) < 0)
			die("trail_new");
		if (strcmp(mode, "trail-scalar") == 0 &&
		    trail_set_kernel(t, TRAIL_KERNEL_SCALAR) < 0)
			die("no scalar kernel");
		if (strcmp(mode, "trail-avx2") == 0 &&
		    trail_set_kernel(t, TRAIL_KERNEL_AVX2) < 0)
			die("no AVX2 kernel on this CPU");
		kernel = trail_kernel_str(trail_kernel(t));
	}
	if (strcmp(mode, "kpair") == 0) {
		if (kpair == NULL)
			die("-m kpair needs -k A,B");
		run_kpair(kpair, file, (size_t)sb.st_size, chunk, rounds);
		(void)inflateEnd(&zs);
		free(secs);
		free(cpu);
		free(bench_win);
		free(file);
		return 0;
	}
#ifdef BENCH_ISAL
	if (strcmp(mode, "pair") == 0) {
		if (trail_new(&t) < 0)
			die("trail_new");
		run_pair(t, &zs, &is, file, (size_t)sb.st_size, chunk, rounds,
		    ids_path);
		trail_free(t);
		(void)inflateEnd(&zs);
		free(secs);
		free(cpu);
		free(bench_win);
		free(file);
		return 0;
	}
#endif
	memset(&rn, 0, sizeof(rn));
	for (i = 0; i <= rounds; i++) {
		double start;
		double start_cpu;

		/* The first (warm-up) run lists the eventIDs. */
		rn.ids = NULL;
		if (i == 0 && ids_path != NULL) {
			rn.ids = fopen(ids_path, "w");
			if (rn.ids == NULL)
				die("cannot write the ids");
		}
		start = now(CLOCK_MONOTONIC);
		start_cpu = now(CLOCK_PROCESS_CPUTIME_ID);
		if (t != NULL)
			run_trail(t, file, (size_t)sb.st_size, chunk, &rn);
		else if (strcmp(mode, "zlib") == 0)
			run_zlib(&zs, file, (size_t)sb.st_size, chunk, &rn);
#ifdef BENCH_ISAL
		else if (strcmp(mode, "isal") == 0)
			run_isal(&is, file, (size_t)sb.st_size, chunk, &rn);
#endif
		else if (strcmp(mode, "jsonc") == 0)
			run_jsonc(&zs, file, (size_t)sb.st_size, &rn);
		else
			die("unknown mode");
		if (i > 0) {
			secs[i - 1] = now(CLOCK_MONOTONIC) - start;
			cpu[i - 1] = now(CLOCK_PROCESS_CPUTIME_ID) - start_cpu;
		}
		if (rn.ids != NULL && fclose(rn.ids) != 0)
			die("cannot write the ids");
	}
	qsort(secs, rounds, sizeof(*secs), cmp_double);
	qsort(cpu, rounds, sizeof(*cpu), cmp_double);
	med = rounds % 2 != 0 ? secs[rounds / 2]
			      : (secs[rounds / 2 - 1] + secs[rounds / 2]) / 2;
	(void)getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s inflater=%s kernel=%s json_bytes=%" PRIu64
	       " records=%" PRIu64 " matched=%" PRIu64
	       " secs=%.6f min=%.6f cpu=%.6f mbps=%.1f eps=%.0f"
	       " maxrss_kb=%ld\n",
	    mode,
	    t != NULL                       ? trail_inflater()
		: strcmp(mode, "isal") == 0 ? "isa-l"
					    : "zlib",
	    kernel, rn.json, rn.records, rn.matched, med, secs[0],
	    cpu[rounds / 2], (double)rn.json / 1e6 / med,
	    (double)rn.records / med, ru.ru_maxrss);
	trail_free(t);
	(void)inflateEnd(&zs);
	free(secs);
	free(cpu);
	free(bench_win);
	free(file);
	return 0;
}
