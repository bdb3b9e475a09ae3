/*
 * s3.c: see s3.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "s3.h"
#include "sigv4.h"

#define S3_DEFAULT_MAX_SIZE (512ull << 20)
#define S3_DEFAULT_TIMEOUT_MS (5L * 60 * 1000)

struct s3_get {
	uint64_t max_size;
	uint64_t received;
	http_data_cb *on_data;
	aws_restart_cb *on_restart;
	aws_done_cb *cb;
	void *arg;
};

int
s3_object_path(const char *bucket, const char *key, int path_style,
    struct buf *out)
{
	int r = 0;

	if (path_style) {
		r = buf_putc(out, '/');
		if (r == 0)
			r = sigv4_uri_encode(bucket, strlen(bucket), true, out);
	}
	if (r == 0)
		r = buf_putc(out, '/');
	if (r == 0)
		r = sigv4_uri_encode(key, strlen(key), false, out);
	return r;
}

static int
s3_data(const void *p, size_t len, void *arg)
{
	struct s3_get *g = arg;

	g->received += len;
	if (g->received > g->max_size)
		return -E2BIG;
	return g->on_data(p, len, g->arg);
}

static void
s3_restart(void *arg)
{
	struct s3_get *g = arg;

	g->received = 0;
	if (g->on_restart != NULL)
		g->on_restart(g->arg);
}

static void
s3_done(const struct aws_result *res, void *arg)
{
	struct s3_get *g = arg;
	aws_done_cb *cb = g->cb;
	void *cb_arg = g->arg;

	free(g);
	cb(res, cb_arg);
}

/*
 * S3's naming rules, so that the bucket requested is exactly the one the
 * caller checked against its allow-list: no '/' or other byte that could
 * make the request path or host name another bucket's.
 */
bool
s3_bucket_name_ok(const char *bucket)
{
	size_t len = strlen(bucket);
	size_t i;

	if (len < 3 || len > 63)
		return false;
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-",
			bucket[i]) == NULL)
			return false;
	return true;
}

int
s3_get_object(struct aws *a, const char *bucket, const char *key,
    const struct s3_get_opts *o, aws_done_cb *cb, void *arg,
    struct aws_op **ret)
{
	struct aws_call c;
	struct s3_get *g;
	struct buf path;
	const char *hdrs[1];
	char range[96];
	bool path_style;
	int r;

	if (!s3_bucket_name_ok(bucket) || key[0] == '\0')
		return -EINVAL;
	path_style = aws_s3_bucket_path_style(a, bucket);
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->max_size =
	    o != NULL && o->max_size ? o->max_size : S3_DEFAULT_MAX_SIZE;
	g->on_data = o != NULL ? o->on_data : NULL;
	g->on_restart = o != NULL ? o->on_restart : NULL;
	g->cb = cb;
	g->arg = arg;
	buf_init(&path, 8192);
	r = s3_object_path(bucket, key, path_style, &path);
	if (r < 0) {
		buf_done(&path);
		free(g);
		return r;
	}
	memset(&c, 0, sizeof(c));
	c.service = "s3";
	c.method = "GET";
	c.path = path.data;
	c.s3 = true;
	c.bucket = bucket;
	if (o != NULL && o->range != NULL) {
		(void)snprintf(range, sizeof(range), "Range: %s", o->range);
		hdrs[0] = range;
		c.headers = hdrs;
		c.n_headers = 1;
	}
	c.timeout_ms =
	    o != NULL && o->timeout_ms ? o->timeout_ms : S3_DEFAULT_TIMEOUT_MS;
	c.max_body = g->max_size > SIZE_MAX ? SIZE_MAX : (size_t)g->max_size;
	c.on_data = g->on_data != NULL ? s3_data : NULL;
	c.on_restart = s3_restart;
	c.on_done = s3_done;
	c.on_cancel = free;
	c.arg = g;
	r = aws_call_start(a, &c, ret);
	buf_done(&path);
	if (r < 0)
		free(g);
	return r;
}

/* ---- HeadObject, ListObjectsV2 --------------------------------------- */

int
s3_head_object(struct aws *a, const char *bucket, const char *key,
    aws_done_cb *cb, void *arg, struct aws_op **ret)
{
	struct aws_call c;
	struct buf path;
	int r;

	if (!s3_bucket_name_ok(bucket) || key[0] == '\0')
		return -EINVAL;
	buf_init(&path, 8192);
	r = s3_object_path(bucket, key, aws_s3_bucket_path_style(a, bucket),
	    &path);
	if (r < 0) {
		buf_done(&path);
		return r;
	}
	memset(&c, 0, sizeof(c));
	c.service = "s3";
	c.method = "HEAD";
	c.path = path.data;
	c.s3 = true;
	c.bucket = bucket;
	c.timeout_ms = 30000;
	c.on_done = cb;
	c.arg = arg;
	r = aws_call_start(a, &c, ret);
	buf_done(&path);
	return r;
}

struct s3_lister {
	s3_list_cb *cb;
	void *arg;
};

static void
s3_list_call_done(const struct aws_result *res, void *arg)
{
	struct s3_lister *ls = arg;
	struct aws_result r2 = *res;
	struct s3_list l;
	int r = -EBADMSG;

	memset(&l, 0, sizeof(l));
	if (res->error == 0 && res->resp != NULL &&
	    res->resp->body.data != NULL)
		r = s3_list_parse(res->resp->body.data, &l);
	if (res->error == 0 && r < 0)
		r2.error = r;
	ls->cb(&r2, r2.error == 0 ? &l : NULL, ls->arg);
	s3_list_done(&l);
	free(ls);
}

int
s3_list_objects(struct aws *a, const char *bucket, const char *prefix,
    const char *delimiter, unsigned max_keys, const char *token, s3_list_cb *cb,
    void *arg, struct aws_op **ret)
{
	bool path_style;
	struct s3_lister *ls;
	struct aws_call c;
	struct buf path;
	struct buf q;
	int r;

	if (!s3_bucket_name_ok(bucket) || max_keys == 0 || max_keys > 1000)
		return -EINVAL;
	path_style = aws_s3_bucket_path_style(a, bucket);
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL)
		return -ENOMEM;
	ls->cb = cb;
	ls->arg = arg;
	buf_init(&path, 256);
	buf_init(&q, 8192);
	r = buf_putc(&path, '/');
	if (r == 0 && path_style)
		r = sigv4_uri_encode(bucket, strlen(bucket), true, &path);
	/* Query parameters in sorted order, as S3 signs them. */
	if (r == 0 && token != NULL) {
		r = buf_printf(&q, "continuation-token=");
		if (r == 0)
			r = sigv4_uri_encode(token, strlen(token), true, &q);
		if (r == 0)
			r = buf_putc(&q, '&');
	}
	if (r == 0 && delimiter != NULL) {
		r = buf_printf(&q, "delimiter=");
		if (r == 0)
			r = sigv4_uri_encode(delimiter, strlen(delimiter), true,
			    &q);
		if (r == 0)
			r = buf_putc(&q, '&');
	}
	if (r == 0)
		r = buf_printf(&q, "list-type=2&max-keys=%u&prefix=", max_keys);
	if (r == 0)
		r = sigv4_uri_encode(prefix, strlen(prefix), true, &q);
	if (r < 0) {
		buf_done(&path);
		buf_done(&q);
		free(ls);
		return r;
	}
	memset(&c, 0, sizeof(c));
	c.service = "s3";
	c.method = "GET";
	c.path = path.data;
	c.query = q.data;
	c.s3 = true;
	c.bucket = bucket;
	c.timeout_ms = 30000;
	c.max_body = 4u << 20;
	c.on_done = s3_list_call_done;
	c.on_cancel = free;
	c.arg = ls;
	r = aws_call_start(a, &c, ret);
	buf_done(&path);
	buf_done(&q);
	if (r < 0)
		free(ls);
	return r;
}

/* The text of <tag>...</tag> at p, entities decoded; NULL on ENOMEM. */
static char *
s3_xml_text(const char *p, size_t n)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
	    {"&quot;", '"'}, {"&apos;", '\''}};
	char *out = malloc(n + 1);
	size_t i = 0;
	size_t o = 0;
	size_t k;

	if (out == NULL)
		return NULL;
	while (i < n) {
		for (k = 0; k < ARRAY_SIZE(ents); k++) {
			size_t el = strlen(ents[k].ent);

			if (i + el <= n && strncmp(p + i, ents[k].ent, el) == 0)
				break;
		}
		if (k < ARRAY_SIZE(ents)) {
			out[o++] = ents[k].c;
			i += strlen(ents[k].ent);
		} else {
			out[o++] = p[i++];
		}
	}
	out[o] = '\0';
	return out;
}

/* Appends each <inner> inside each <outer> block to *v. */
static int
s3_xml_collect(const char *xml, const char *outer, const char *inner, char ***v,
    size_t *n)
{
	char open_o[48];
	char close_o[48];
	char open_i[48];
	char close_i[48];
	const char *p = xml;

	(void)snprintf(open_o, sizeof(open_o), "<%s>", outer);
	(void)snprintf(close_o, sizeof(close_o), "</%s>", outer);
	(void)snprintf(open_i, sizeof(open_i), "<%s>", inner);
	(void)snprintf(close_i, sizeof(close_i), "</%s>", inner);
	while ((p = strstr(p, open_o)) != NULL) {
		const char *end = strstr(p, close_o);
		const char *a;
		const char *b;
		char *t;

		if (end == NULL)
			return -EBADMSG;
		a = strstr(p, open_i);
		p = end + strlen(close_o);
		if (a == NULL || a > end)
			continue;
		a += strlen(open_i);
		b = strstr(a, close_i);
		if (b == NULL || b > end)
			return -EBADMSG;
		if (*n >= S3_MAX_LIST)
			continue;
		if (*v == NULL) {
			*v = calloc(S3_MAX_LIST, sizeof(char *));
			if (*v == NULL)
				return -ENOMEM;
		}
		t = s3_xml_text(a, (size_t)(b - a));
		if (t == NULL)
			return -ENOMEM;
		(*v)[(*n)++] = t;
	}
	return 0;
}

/* <NextContinuationToken> of a truncated page; absent: NULL. */
static int
s3_list_token(const char *xml, char **ret)
{
	static const char open_t[] = "<NextContinuationToken>";
	const char *a = strstr(xml, open_t);
	const char *b;

	*ret = NULL;
	if (a == NULL)
		return 0;
	a += strlen(open_t);
	b = strstr(a, "</NextContinuationToken>");
	if (b == NULL)
		return -EBADMSG;
	*ret = s3_xml_text(a, (size_t)(b - a));
	return *ret == NULL ? -ENOMEM : 0;
}

int
s3_list_parse(const char *xml, struct s3_list *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	if (strstr(xml, "<ListBucketResult") == NULL)
		return -EBADMSG;
	r = s3_xml_collect(xml, "Contents", "Key", &l->keys, &l->n_keys);
	if (r == 0)
		r = s3_xml_collect(xml, "CommonPrefixes", "Prefix",
		    &l->prefixes, &l->n_prefixes);
	l->truncated = strstr(xml, "<IsTruncated>true</IsTruncated>") != NULL;
	if (r == 0 && l->truncated)
		r = s3_list_token(xml, &l->next_token);
	if (r < 0)
		s3_list_done(l);
	return r;
}

void
s3_list_done(struct s3_list *l)
{
	size_t i;

	for (i = 0; i < l->n_keys; i++)
		free(l->keys[i]);
	for (i = 0; i < l->n_prefixes; i++)
		free(l->prefixes[i]);
	free(l->keys);
	free(l->prefixes);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

/* ---- what to grant ----------------------------------------------------- */

bool
s3_denied_is_kms(const struct aws_result *res)
{
	static const char *const words[] = {"kms", "ciphertext",
	    "customer master key", "encryption key"};
	size_t i;

	if (res->error != -EACCES)
		return false;
	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (strcasestr(res->message, words[i]) != NULL ||
		    strcasestr(res->code, words[i]) != NULL)
			return true;
	return false;
}

const char *
s3_arn(const struct aws *a, const char *bucket, const char *key, char *buf,
    size_t size)
{
	const char *region = aws_s3_region_for(a, bucket);
	const char *part = "aws";

	if (strncmp(region, "cn-", 3) == 0)
		part = "aws-cn";
	else if (strncmp(region, "us-gov-", 7) == 0)
		part = "aws-us-gov";
	(void)snprintf(buf, size, "arn:%s:s3:::%s%s%s", part, bucket,
	    key != NULL ? "/" : "", key != NULL ? key : "");
	return buf;
}

const char *
s3_denied_hint(const struct aws *a, const char *bucket, const char *resource,
    bool kms, const char *kms_key, char *buf, size_t size)
{
	char arn[1200];

	if (kms)
		(void)snprintf(buf, size, "grant kms:Decrypt on %s%s",
		    kms_key != NULL && kms_key[0] != '\0'
			? kms_key
			: "the trail's KMS key",
		    kms_key != NULL && kms_key[0] != '\0'
			? ""
			: " (the bucket's objects are SSE-KMS encrypted)");
	else
		(void)snprintf(buf, size, "grant s3:GetObject on %s",
		    s3_arn(a, bucket, resource, arn, sizeof(arn)));
	return buf;
}
