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

/* Virtual-hosted addressing puts the bucket in the TLS host name, which a
 * dotted bucket breaks (the wildcard certificate covers one label). */
static bool
s3_bucket_hostable(const char *bucket)
{
	return strchr(bucket, '.') == NULL;
}

int
s3_get_object(struct aws *a, const char *bucket, const char *key,
    const struct s3_get_opts *o, aws_done_cb *cb, void *arg,
    struct aws_op **ret)
{
	bool path_style = aws_s3_path_style(a) || !s3_bucket_hostable(bucket);
	struct aws_call c;
	struct s3_get *g;
	struct buf path;
	char host[320];
	int r;

	if (!s3_bucket_name_ok(bucket) || key[0] == '\0')
		return -EINVAL;
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
	if (!path_style) {
		(void)snprintf(host, sizeof(host), "%s.s3.%s.amazonaws.com",
		    bucket, aws_region(a));
		c.host = host;
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
