/*
 * fuzz_trail.c: the CloudTrail scanner (trail.h) on any bytes, and every
 * record it hands out through record.h, the rules and alert.h, the way
 * daemon.c's match_record() does.
 *
 * Each input is scanned twice by one scanner: whole, by the kernel a hash
 * of the input picks; then, after trail_reset(), fed in two chunks split
 * where the hash says, by the portable kernel. trail.h promises the same
 * return code, diag, counters and first skipped record for any kernel and
 * any chunking: a difference aborts, as do counters out of order (more
 * records handed out than matched, or skipped than seen). An input that
 * does not start with the gzip magic is gzipped here for half of the
 * hashes (as one member, or as two split at the chunk point), so that
 * mutations reach the JSON stage behind the inflater too.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "alert.h"
#include "buf.h"
#include "diag.h"
#include "fuzz.h"
#include "bounds.h"
#include "record.h"
#include "rules.h"
#include "trail.h"

/* Enough for any input; keeps a gzip bomb from taking seconds. */
#define FT_MAX_INFLATED (16u << 20)

/* Every operator, combinator and template form (smtrail-rules(5)). */
static const char ft_rules_yaml[] =
    "rules:\n"
    "  - id: read-denied\n"
    "    severity: warning\n"
    "    match:\n"
    "      eventName: [GetSecretValue, BatchGetSecretValue]\n"
    "      errorCode: {contains: AccessDenied}\n"
    "    summary: '{{userIdentity.arn}} denied {{eventName}} on "
    "{{secretId}}'\n"
    "    group_by: [userIdentity.arn, secretId]\n"
    "    throttle: 15m\n"
    "  - id: deleted\n"
    "    severity: critical\n"
    "    match:\n"
    "      eventName: DeleteSecret\n"
    "      errorCode: null\n"
    "      requestParameters.forceDeleteWithoutRecovery: {not: true}\n"
    "      requestParameters.recoveryWindowInDays: {not: {lt: 7}}\n"
    "    summary: '{{secretId}} until {{responseElements.deletionDate}}'\n"
    "    resolve_on:\n"
    "      eventName: [RestoreSecret, CancelSecretVersionDelete]\n"
    "  - id: rotation\n"
    "    severity: error\n"
    "    match:\n"
    "      eventName: {glob: 'Rotation*Fail?d'}\n"
    "    summary: '{{ errorMessage }} {{additionalEventData}}'\n"
    "    resolve_on: {eventName: RotationSucceeded}\n"
    "  - id: policy\n"
    "    match:\n"
    "      eventName: {regex: '^(Put|Delete)ResourcePolicy$'}\n"
    "      requestParameters.resourcePolicy: {exists: true}\n"
    "    summary: '{{requestParameters}} {{resources.0.ARN}}'\n"
    "    group_by: []\n"
    "  - id: outside\n"
    "    match:\n"
    "      readOnly: true\n"
    "      eventVersion: {ge: 1.05}\n"
    "      userIdentity.arn: {prefix: 'arn:aws:'}\n"
    "      secretId: {suffix: x}\n"
    "      any:\n"
    "        - sourceIPAddress: {not: {any: [{cidr: 10.0.0.0/8}, "
    "{cidr: '2001:db8::/32'}, AWS Internal]}}\n"
    "        - all: [{userIdentity.type: Root}, {tlsDetails: ~}]\n"
    "    group_by: [sourceIPAddress, requestParameters.secretIdList.0]\n";

static const char *const ft_paths[] = {"userIdentity.arn", "resources.0.ARN",
    "requestParameters", "responseElements.versionIdsToStages", "secretId"};

/*
 * Made once, like the daemon's: the scanner is reset for each object (and
 * trail_scan() starts with a reset), the deflate stream for each member.
 */
static struct rules *ft_rules;
static struct trail *ft_trail;
static z_stream ft_z;
static struct record_path *ft_path[sizeof(ft_paths) / sizeof(ft_paths[0])];

struct ft_ctx {
	struct buf text;
	struct buf json;
	size_t calls;
	size_t failed; /* calls that refused this record: allowed */
	unsigned sum;  /* of the raw bytes: makes the tools check them */
};

static void
ft_teardown(void)
{
	size_t i;

	rules_free(ft_rules);
	ft_rules = NULL;
	trail_free(ft_trail);
	ft_trail = NULL;
	(void)deflateEnd(&ft_z);
	for (i = 0; i < sizeof(ft_path) / sizeof(ft_path[0]); i++)
		record_path_free(ft_path[i]);
}

static void
ft_setup(void)
{
	struct diag_list dl;
	char line[700];
	size_t i;
	int r;

	if (ft_rules != NULL)
		return;
	memset(&dl, 0, sizeof(dl));
	r = rules_load_buffer("fuzz-trail-rules.yaml", ft_rules_yaml,
	    sizeof(ft_rules_yaml) - 1, true, &ft_rules, &dl);
	for (i = 0; r < 0 && i < dl.n; i++)
		(void)fprintf(stderr, "fuzz_trail: %s\n",
		    diag_format(&dl.items[i], line, sizeof(line)));
	for (i = 0; r == 0 && i < sizeof(ft_path) / sizeof(ft_path[0]); i++)
		r = record_path_compile(ft_paths[i], &ft_path[i]);
	if (r == 0)
		r = trail_new(&ft_trail);
	/* 15 + 16: a gzip wrapper, not zlib's. */
	if (r == 0 &&
	    deflateInit2(&ft_z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
		Z_DEFAULT_STRATEGY) != Z_OK)
		r = -ENOMEM;
	if (r < 0) {
		(void)fprintf(stderr, "fuzz_trail: setup: %s\n", strerror(-r));
		abort();
	}
	(void)atexit(ft_teardown);
}

/* What the daemon does with a matched rule: build, render, drop. */
static void
ft_alert(struct ft_ctx *c, const struct rule *rule, struct json_object *rec)
{
	struct alert a;

	buf_reset(&c->text);
	c->failed += rules_render_summary(rule, rec, &c->text) < 0;
	buf_reset(&c->text);
	c->failed += rules_group_key(rule, rec, &c->text) < 0;
	if (alert_build(rule, rec, &a) < 0)
		return;
	buf_reset(&c->json);
	if (alert_json(&a, true, &c->json) == -E2BIG)
		c->failed += alert_json(&a, false, &c->json) < 0;
	alert_done(&a);
}

static int
ft_record(struct json_object *rec, struct span raw, void *arg)
{
	struct ft_ctx *c = arg;
	size_t i;
	bool present;

	c->calls++;
	for (i = 0; i < raw.len; i++)
		c->sum += (unsigned char)raw.p[i];
	(void)json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	(void)record_secret_id(rec);
	(void)record_string(rec, "eventID");
	(void)record_get_str(rec, "tlsDetails.clientProvidedHostHeader");
	for (i = 0; i < sizeof(ft_path) / sizeof(ft_path[0]); i++) {
		buf_reset(&c->text);
		c->failed +=
		    record_value_text(record_get(rec, ft_path[i], &present),
			&c->text) < 0;
	}
	for (i = 0; i < rules_count(ft_rules); i++) {
		const struct rule *rule = rules_get(ft_rules, i);

		if (!rule->enabled)
			continue;
		if (rules_match_eval(rule->match, rec) ||
		    (rule->resolve_on != NULL &&
			rules_match_eval(rule->resolve_on, rec)))
			ft_alert(c, rule, rec);
	}
	return 0;
}

/*
 * Gzips data as one member, or as two split at cut (several members are
 * allowed). Returns the length, 0 on failure (then the input goes as is).
 */
static size_t
ft_gzip(const uint8_t *data, size_t size, size_t cut, bool two, uint8_t **ret)
{
	const size_t parts[2] = {two ? cut : size, two ? size - cut : 0};
	z_stream *z = &ft_z;
	uint8_t *out;
	size_t cap;
	size_t len = 0;
	size_t off = 0;
	int i;

	cap = 2 * (size_t)compressBound((uLong)size) + 64;
	out = malloc(cap);
	if (out == NULL)
		return 0;
	for (i = 0; i < (two ? 2 : 1); i++) {
		if (deflateReset(z) != Z_OK)
			goto fail;
		z->next_in = (Bytef *)(uintptr_t)(data + off);
		z->avail_in = (uInt)parts[i];
		z->next_out = out + len;
		z->avail_out = (uInt)(cap - len);
		if (deflate(z, Z_FINISH) != Z_STREAM_END)
			goto fail;
		len = cap - z->avail_out;
		off += parts[i];
	}
	*ret = out;
	return len;
fail:
	free(out);
	return 0;
}

struct ft_result {
	int r;
	struct diag d;
	struct diag skip; /* trail_skipped_first(), or all zero */
	struct trail_stats st;
	size_t calls;
};

static void
ft_result(struct trail *t, int r, const struct diag *d, const struct ft_ctx *c,
    struct ft_result *ret)
{
	const struct diag *skip = trail_skipped_first(t);

	memset(ret, 0, sizeof(*ret));
	ret->r = r;
	if (r < 0)
		ret->d = *d;
	if (skip != NULL)
		ret->skip = *skip;
	ret->st = *trail_stats(t);
	ret->calls = c->calls;
	/* What trail.h promises of the counts, whatever the input. */
	if ((skip != NULL) != (ret->st.skipped != 0) ||
	    ret->st.skipped > ret->st.records ||
	    ret->st.candidates > ret->st.records - ret->st.skipped ||
	    ret->st.matched > ret->st.candidates ||
	    ret->calls > ret->st.matched) {
		(void)fprintf(stderr,
		    "fuzz_trail: counts out of order: records %llu, "
		    "skipped %llu (first '%s'), candidates %llu, matched "
		    "%llu, calls %zu\n",
		    (unsigned long long)ret->st.records,
		    (unsigned long long)ret->st.skipped, ret->skip.msg,
		    (unsigned long long)ret->st.candidates,
		    (unsigned long long)ret->st.matched, ret->calls);
		abort();
	}
}

static bool
ft_same(const struct ft_result *a, const struct ft_result *b)
{
	return a->r == b->r && strcmp(a->d.msg, b->d.msg) == 0 &&
	    a->d.line == b->d.line && a->d.col == b->d.col &&
	    a->calls == b->calls &&
	    /* After an error these say how far each feed got, no more. */
	    (a->r < 0 ||
		(a->st.bytes_in == b->st.bytes_in &&
		    a->st.bytes_json == b->st.bytes_json)) &&
	    a->st.records == b->st.records &&
	    a->st.candidates == b->st.candidates &&
	    a->st.matched == b->st.matched && a->st.skipped == b->st.skipped &&
	    strcmp(a->skip.msg, b->skip.msg) == 0 &&
	    a->skip.warning == b->skip.warning;
}

static void
ft_differ(const struct ft_result *a, const struct ft_result *b,
    enum trail_kernel k, size_t cut)
{
	(void)fprintf(stderr,
	    "fuzz_trail: %s whole and scalar split at %zu differ:\n"
	    "  r %d / %d, diag '%s' / '%s'\n"
	    "  records %llu / %llu, candidates %llu / %llu, matched "
	    "%llu / %llu, json bytes %llu / %llu\n"
	    "  skipped %llu / %llu, first '%s' / '%s'\n",
	    trail_kernel_str(k), cut, a->r, b->r, a->d.msg, b->d.msg,
	    (unsigned long long)a->st.records,
	    (unsigned long long)b->st.records,
	    (unsigned long long)a->st.candidates,
	    (unsigned long long)b->st.candidates,
	    (unsigned long long)a->st.matched,
	    (unsigned long long)b->st.matched,
	    (unsigned long long)a->st.bytes_json,
	    (unsigned long long)b->st.bytes_json,
	    (unsigned long long)a->st.skipped,
	    (unsigned long long)b->st.skipped, a->skip.msg, b->skip.msg);
	abort();
}

/*
 * Known and reported (README, "Findings"): under ISA-L the bytes inflated
 * before a corrupt spot depend on where the input was cut, so the error
 * (a JSON one in those bytes, or the gzip one) and the records before it
 * can differ. Until that is fixed, both scans only have to fail.
 */
static bool
ft_known_gzip_skew(const struct ft_result *a, const struct ft_result *b)
{
	static const char gz[] = "corrupt gzip stream";

	return strcmp(trail_inflater(), "isa-l") == 0 && a->r < 0 && b->r < 0 &&
	    (strncmp(a->d.msg, gz, sizeof(gz) - 1) == 0 ||
		strncmp(b->d.msg, gz, sizeof(gz) - 1) == 0);
}

/* Whole, then in two chunks; the results must agree. */
static void
ft_scan(struct trail *t, const uint8_t *p, size_t len, uint32_t h,
    struct ft_ctx *c)
{
	enum trail_kernel k;
	struct ft_result whole;
	struct ft_result split;
	struct diag d;
	size_t cut = len > 0 ? (h >> 8) % (len + 1) : 0;
	int r;

	k = (enum trail_kernel)(TRAIL_KERNEL_SCALAR +
	    (h >> 4) % (TRAIL_KERNEL_COUNT - TRAIL_KERNEL_SCALAR));
	if (trail_set_kernel(t, k) < 0)
		k = trail_kernel(t); /* not on this CPU: the best one */
	memset(&d, 0, sizeof(d));
	c->calls = 0;
	r = trail_scan(t, p, len, ft_record, c, &d);
	ft_result(t, r, &d, c, &whole);

	trail_reset(t);
	if (trail_set_kernel(t, TRAIL_KERNEL_SCALAR) < 0)
		abort();
	memset(&d, 0, sizeof(d));
	c->calls = 0;
	r = trail_feed(t, p, cut, ft_record, c, &d);
	if (r == 0)
		r = trail_feed(t, p + cut, len - cut, ft_record, c, &d);
	if (r == 0)
		r = trail_finish(t, ft_record, c, &d);
	ft_result(t, r, &d, c, &split);
	if (!ft_same(&whole, &split) && !ft_known_gzip_skew(&whole, &split))
		ft_differ(&whole, &split, k, cut);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ft_ctx c;
	uint8_t *gz = NULL;
	size_t gzlen = 0;
	uint32_t h = fuzz_hash(data, size);
	bool magic = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;

	ft_setup();
	trail_set_max_inflated(ft_trail, FT_MAX_INFLATED);
	memset(&c, 0, sizeof(c));
	buf_init(&c.text, ALERT_MAX_TEXT);
	buf_init(&c.json, ALERT_MAX_JSON + 2 * (size_t)TRAIL_MAX_RECORD);
	if (!magic && (h & 1) != 0)
		gzlen = ft_gzip(data, size,
		    size > 0 ? (h >> 8) % (size + 1) : 0, (h & 2) != 0, &gz);
	if (gz != NULL)
		ft_scan(ft_trail, gz, gzlen, h, &c);
	else
		ft_scan(ft_trail, data, size, h, &c);
	free(gz);
	buf_done(&c.text);
	buf_done(&c.json);
	return 0;
}
