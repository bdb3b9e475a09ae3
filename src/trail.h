/*
 * trail.h: the CloudTrail log file scanner (the "records" stage).
 *
 * Feed it an object's bytes in chunks of any size, as they arrive; it
 * inflates them when they start with the gzip magic (1f 8b, several gzip
 * members allowed), otherwise takes them as JSON. It walks the top-level
 * object's "Records" array (wherever that key stands; other keys are skipped)
 * with a string-aware scanner, prefilters each record's text on
 * "secretsmanager.amazonaws.com", parses only those with json-c and calls cb
 * for each whose "eventSource" is exactly "secretsmanager.amazonaws.com".
 * The prefilter passes a record only if its text could make json-c read
 * that eventSource: the name as a "eventSource" key's value (whitespace
 * allowed around the ':'), or any \u escape; it never drops a match.
 * The record and raw span are borrowed for the duration of the callback.
 * A callback returning < 0 stops the scan; that code is returned.
 *
 * A record over TRAIL_MAX_RECORD bytes, or nested past TRAIL_MAX_DEPTH
 * (src/bounds.h; the top-level object and Records count, so a record may
 * nest 510 levels, itself included), is skipped: scanned to its end, but
 * not kept, parsed or handed to cb; stats count it in skipped, and
 * trail_skipped_first() says which was first, where and why. The scan goes
 * on with the next record: one odd record costs no other its alert. It must
 * still end: a NUL byte, a bracket that does not match or truncation fails
 * the scan there as anywhere, except that brackets past TRAIL_MAX_DEPTH are
 * only counted, not matched (a "[}" that deep is not seen). Nesting past
 * TRAIL_MAX_DEPTH outside a record (another top-level key's value, an array
 * in Records) is followed the same way, and counted nowhere.
 *
 * Errors (the scanner is then dead until trail_reset): -EBADMSG malformed
 * gzip or JSON, truncated input (found by trail_finish); -E2BIG the
 * inflated object over its limit; -ENOMEM. The diag says what and at
 * which byte offset (of the inflated JSON, or of the input for gzip errors).
 * Records before the error have already been delivered. How the input is
 * cut into chunks never changes the result, with one exception: ISA-L may
 * write a few bytes of a corrupt deflate stream before it reports the
 * damage, and how many depends on its call boundaries, so such a stream can
 * fail as the JSON damage those bytes make instead ("NUL byte at byte N"
 * rather than "corrupt gzip stream"); -EBADMSG either way. zlib builds are
 * exact (tests/fuzz/corpus/trail/trail-isal-gzip-error-depends-on-cut.gz).
 *
 * Memory is bounded by TRAIL_MAX_RECORD plus a fixed window, whatever the
 * size of the object or of its records. No allocation per record in the
 * steady state. Not thread safe; one scanner per concurrent object. Never
 * prints.
 */
#ifndef SMTRAIL_TRAIL_H
#define SMTRAIL_TRAIL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct diag;
struct json_object;
struct trail; /* opaque */

typedef int trail_record_cb(struct json_object *rec, struct span raw,
    void *arg);

struct trail_stats {
	uint64_t bytes_in;   /* bytes fed (compressed size for gzip) */
	uint64_t bytes_json; /* JSON bytes scanned (inflated size) */
	uint64_t records;    /* records in the Records array */
	uint64_t candidates; /* records that passed the text prefilter */
	uint64_t matched;    /* records handed to the callback */
	/* Records skipped (in records too): over TRAIL_MAX_RECORD bytes or
	 * nested past TRAIL_MAX_DEPTH. */
	uint64_t skipped;
};

int trail_new(struct trail **ret) MUST_CHECK;
void trail_free(struct trail *t); /* NULL ok */

/* Starts a new object; keeps buffers for reuse. Stats are zeroed. */
void trail_reset(struct trail *t);

/*
 * Ceiling on an object's inflated size, -E2BIG past it (default
 * TRAIL_MAX_INFLATED); kept across trail_reset.
 */
void trail_set_max_inflated(struct trail *t, uint64_t max);

int trail_feed(struct trail *t, const void *data, size_t len,
    trail_record_cb *cb, void *arg, struct diag *reterr) MUST_CHECK;

/* The object is complete: -EBADMSG if it ended mid-stream. */
int trail_finish(struct trail *t, trail_record_cb *cb, void *arg,
    struct diag *reterr) MUST_CHECK;

const struct trail_stats *trail_stats(const struct trail *t);

/*
 * The first record skipped since trail_reset, for the log: "record at byte
 * N skipped: over 4194304 bytes" or "...: nesting deeper than 512" (N: the
 * offset of its '{' in the JSON), as a warning. NULL if none was. Borrowed
 * until the next trail_reset.
 */
const struct diag *trail_skipped_first(const struct trail *t);

/* Convenience: reset, feed all of data, finish. */
int trail_scan(struct trail *t, const void *data, size_t len,
    trail_record_cb *cb, void *arg, struct diag *reterr) MUST_CHECK;

/* Name of the inflater compiled in ("zlib" or "isa-l"). */
const char *trail_inflater(void);

/*
 * The kernels that skip the bytes inside records (strings, escapes, nested
 * brackets) and prefilter a record's text: portable C (SCALAR); AVX2, 64
 * bytes at a time (AVX2, x86-64 with AVX2 and PCLMUL); AVX2 with an AVX-512BW
 * prefilter (AVX512). The CPU is asked at run time. Every kernel gives the
 * same results, errors and diags, byte for byte; only the speed differs.
 * trail_new picks the best (TRAIL_KERNEL_AUTO); forcing one is for the
 * tests and the benchmark. -ENOTSUP: this CPU or build lacks it.
 */
enum trail_kernel {
	TRAIL_KERNEL_AUTO,
	TRAIL_KERNEL_SCALAR,
	TRAIL_KERNEL_AVX2,
	TRAIL_KERNEL_AVX512,
	TRAIL_KERNEL_COUNT,
};

int trail_set_kernel(struct trail *t, enum trail_kernel k) MUST_CHECK;
enum trail_kernel trail_kernel(const struct trail *t); /* never AUTO */
/* The kernel trail_new picks on this CPU. */
enum trail_kernel trail_kernel_best(void);
const char *trail_kernel_str(enum trail_kernel k);

#endif
