/*
 * sqs.c: see sqs.h. Requests are built with json-c; replies parsed with it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "diag.h"
#include "sqs.h"

/* A full ReceiveMessage reply: 10 messages of at most 256 KiB each. */
#define SQS_MAX_REPLY (4u << 20)

struct sqs_call {
	union {
		sqs_receive_cb *receive;
		sqs_batch_cb *batch;
		sqs_attrs_cb *attrs;
	} cb;
	void *arg;
	size_t n; /* batch entries */
};

/* "host[:port]" of an http(s) URL, lower-cased, into host (port kept
 * apart); -EINVAL if malformed. */
static int
sqs_url_host(const char *url, char *host, size_t size, const char **ret_port,
    size_t *ret_port_len, bool *ret_https)
{
	const char *p;
	size_t n;
	size_t i;

	if (strncmp(url, "https://", 8) == 0) {
		*ret_https = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*ret_https = false;
		p = url + 7;
	} else {
		return -EINVAL;
	}
	n = strcspn(p, ":/?#");
	if (n == 0 || n >= size)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)p[i]) && p[i] != '.' && p[i] != '-')
			return -EINVAL; /* '@' (userinfo), '%', '[', ... */
		host[i] = (char)tolower((unsigned char)p[i]);
	}
	host[n] = '\0';
	if (host[0] == '.' || host[n - 1] == '.' || strstr(host, "..") != NULL)
		return -EINVAL;
	*ret_port = p + n;
	*ret_port_len = 0;
	if (p[n] == ':') {
		size_t k = strspn(p + n + 1, "0123456789");

		if (k == 0 || k > 5 || strchr("/?#", p[n + 1 + k]) == NULL)
			return -EINVAL;
		*ret_port_len = k + 1;
	}
	return 0;
}

/* Ends with suffix; *ret_len: the length before it. */
static bool
sqs_suffix(const char *s, const char *suffix, size_t *ret_len)
{
	size_t n = strlen(s);
	size_t k = strlen(suffix);

	if (n <= k || strcmp(s + n - k, suffix) != 0)
		return false;
	*ret_len = n - k;
	return true;
}

/* The region of an AWS SQS host (see sqs.h): 1, 0 not AWS's, -EINVAL. */
static int
sqs_host_region(const char *host, char region[AWS_MAX_REGION + 1],
    bool *ret_legacy)
{
	char pre[256];
	const char *reg = NULL;
	size_t n;
	size_t k;

	*ret_legacy = false;
	if (strcmp(host, "queue.amazonaws.com") == 0) {
		*ret_legacy = true;
		(void)snprintf(region, AWS_MAX_REGION + 1, "us-east-1");
		return 1;
	}
	if (!sqs_suffix(host, ".amazonaws.com.cn", &n) &&
	    !sqs_suffix(host, ".amazonaws.com", &n) &&
	    !sqs_suffix(host, ".api.aws", &n))
		return 0;
	(void)snprintf(pre, sizeof(pre), "%.*s", (int)n, host);
	if (strncmp(pre, "sqs.", 4) == 0)
		reg = pre + 4;
	else if (strncmp(pre, "sqs-fips.", 9) == 0)
		reg = pre + 9;
	else if (sqs_suffix(pre, ".queue", &k) && strchr(pre, '.') == pre + k) {
		pre[k] = '\0';
		reg = pre;
		*ret_legacy = true;
	} else if (strncmp(pre, "vpce-", 5) == 0 &&
	    sqs_suffix(pre, ".vpce", &k)) {
		/* vpce-<id>[-<az>].sqs.<region>.vpce */
		char *sqs;

		pre[k] = '\0';
		sqs = strstr(pre, ".sqs.");
		if (sqs == NULL || strchr(pre, '.') != sqs)
			return -EINVAL;
		reg = sqs + 5;
	}
	if (reg == NULL)
		return 0; /* another AWS host: not one of SQS's forms */
	if (strchr(reg, '.') != NULL || !aws_region_name_ok(reg))
		return -EINVAL;
	(void)snprintf(region, AWS_MAX_REGION + 1, "%.*s", AWS_MAX_REGION, reg);
	return 1;
}

int
sqs_url_region(const char *queue_url, char region[AWS_MAX_REGION + 1])
{
	char host[256];
	const char *port;
	size_t port_len;
	bool https;
	bool legacy;
	int r;

	region[0] = '\0';
	r = sqs_url_host(queue_url, host, sizeof(host), &port, &port_len,
	    &https);
	if (r < 0)
		return r;
	r = sqs_host_region(host, region, &legacy);
	if (r <= 0)
		region[0] = '\0';
	return r;
}

int
sqs_queue_endpoint(const struct aws *a, const char *queue_url,
    struct sqs_endpoint *ret, struct diag *reterr)
{
	struct sqs_endpoint e;
	char host[256];
	const char *port;
	size_t port_len;
	bool https;
	bool legacy = false;
	int r;

	memset(&e, 0, sizeof(e));
	r = sqs_url_host(queue_url, host, sizeof(host), &port, &port_len,
	    &https);
	if (r == 0)
		r = sqs_host_region(host, e.url_region, &legacy);
	if (r < 0)
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "malformed SQS queue URL '%.200s'", queue_url);
	if (r == 1) {
		(void)snprintf(e.region, sizeof(e.region), "%s", e.url_region);
	} else if (aws_region(a) != NULL) {
		e.url_region[0] = '\0';
		(void)snprintf(e.region, sizeof(e.region), "%s", aws_region(a));
	} else {
		return diag_set(reterr, -EINVAL, NULL, 0, 0,
		    "no AWS region for the queue URL '%.200s' (its host is "
		    "not AWS's, so it names none): set aws.region, "
		    "AWS_REGION or a profile region",
		    queue_url);
	}
	e.custom = aws_custom_endpoint(a, "sqs");
	if (e.custom)
		r = snprintf(e.url, sizeof(e.url), "%s",
		    aws_endpoint(a, "sqs"));
	else if (legacy)
		r = snprintf(e.url, sizeof(e.url),
		    "https://sqs.%s.amazonaws.com", e.region);
	else if (r == 1)
		r = snprintf(e.url, sizeof(e.url), "https://%s", host);
	else
		r = snprintf(e.url, sizeof(e.url), "%s://%s%.*s",
		    https ? "https" : "http", host, (int)port_len, port);
	if (r < 0 || (size_t)r >= sizeof(e.url))
		return diag_set(reterr, -E2BIG, NULL, 0, 0,
		    "SQS endpoint too long");
	*ret = e;
	return 0;
}

static int
sqs_start(struct aws *a, const char *queue_url, const char *action,
    struct json_object *req, long timeout_ms, struct sqs_call *sc,
    aws_done_cb *done, struct aws_op **ret)
{
	struct sqs_endpoint e;
	char target[96];
	const char *hdrs[2];
	const char *body;
	struct aws_call c;
	int r;

	r = sqs_queue_endpoint(a, queue_url, &e, NULL);
	if (r < 0) {
		json_object_put(req);
		free(sc);
		return r;
	}
	(void)snprintf(target, sizeof(target), "X-Amz-Target: AmazonSQS.%s",
	    action);
	hdrs[0] = "Content-Type: application/x-amz-json-1.0";
	hdrs[1] = target;
	body = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	memset(&c, 0, sizeof(c));
	c.service = "sqs";
	c.method = "POST";
	c.path = "/";
	c.base_url = e.url;
	c.region = e.region;
	c.headers = hdrs;
	c.n_headers = 2;
	c.body = body;
	c.body_len = strlen(body);
	c.timeout_ms = timeout_ms;
	c.max_body = SQS_MAX_REPLY;
	c.on_done = done;
	c.on_cancel = free;
	c.arg = sc;
	r = aws_call_start(a, &c, ret);
	json_object_put(req);
	if (r < 0)
		free(sc);
	return r;
}

static struct json_object *
sqs_reply(const struct aws_result *res)
{
	if (res->error != 0 || res->resp == NULL ||
	    res->resp->body.data == NULL)
		return NULL;
	return json_tokener_parse(res->resp->body.data);
}

static const char *
sqs_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

void
sqs_msg_done(struct sqs_msg *m)
{
	free(m->message_id);
	free(m->receipt_handle);
	free(m->body);
	m->message_id = m->receipt_handle = m->body = NULL;
}

void
sqs_msgs_free(struct sqs_msg *msgs, size_t n)
{
	size_t i;

	for (i = 0; msgs != NULL && i < n; i++)
		sqs_msg_done(&msgs[i]);
	free(msgs);
}

static int
sqs_parse_messages(struct json_object *reply, struct sqs_msg **ret,
    size_t *ret_n)
{
	struct json_object *arr;
	struct sqs_msg *msgs;
	size_t n;
	size_t i;

	*ret = NULL;
	*ret_n = 0;
	if (!json_object_object_get_ex(reply, "Messages", &arr))
		return 0; /* an empty long poll: {} */
	if (!json_object_is_type(arr, json_type_array))
		return -EBADMSG;
	n = json_object_array_length(arr);
	if (n == 0)
		return 0;
	msgs = calloc(n, sizeof(*msgs));
	if (msgs == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(arr, i);
		struct json_object *attrs;
		const char *id = sqs_str(m, "MessageId");
		const char *rh = sqs_str(m, "ReceiptHandle");
		const char *body = sqs_str(m, "Body");
		const char *v;

		if (id == NULL || rh == NULL) {
			sqs_msgs_free(msgs, n);
			return -EBADMSG;
		}
		msgs[i].message_id = strdup(id);
		msgs[i].receipt_handle = strdup(rh);
		msgs[i].body = strdup(body != NULL ? body : "");
		if (msgs[i].message_id == NULL ||
		    msgs[i].receipt_handle == NULL || msgs[i].body == NULL) {
			sqs_msgs_free(msgs, n);
			return -ENOMEM;
		}
		if (!json_object_object_get_ex(m, "Attributes", &attrs))
			continue;
		v = sqs_str(attrs, "ApproximateReceiveCount");
		if (v != NULL)
			msgs[i].receive_count = (unsigned)strtoul(v, NULL, 10);
		v = sqs_str(attrs, "SentTimestamp");
		if (v != NULL)
			msgs[i].sent_timestamp_ms = strtoull(v, NULL, 10);
	}
	*ret = msgs;
	*ret_n = n;
	return 0;
}

static void
sqs_receive_done(const struct aws_result *res, void *arg)
{
	struct sqs_call *sc = arg;
	struct json_object *reply = sqs_reply(res);
	struct aws_result r2 = *res;
	struct sqs_msg *msgs = NULL;
	size_t n = 0;

	if (res->error == 0) {
		r2.error = reply != NULL ? sqs_parse_messages(reply, &msgs, &n)
					 : -EBADMSG;
	}
	json_object_put(reply);
	sc->cb.receive(&r2, msgs, n, sc->arg);
	free(sc);
}

int
sqs_receive(struct aws *a, const char *queue_url,
    const struct sqs_receive_opts *o, sqs_receive_cb *cb, void *arg,
    struct aws_op **ret)
{
	struct json_object *req = json_object_new_object();
	struct json_object *names = json_object_new_array();
	struct sqs_call *sc = calloc(1, sizeof(*sc));

	if (req == NULL || names == NULL || sc == NULL) {
		json_object_put(req);
		json_object_put(names);
		free(sc);
		return -ENOMEM;
	}
	sc->cb.receive = cb;
	sc->arg = arg;
	json_object_object_add(req, "QueueUrl",
	    json_object_new_string(queue_url));
	json_object_object_add(req, "MaxNumberOfMessages",
	    json_object_new_int((int)o->max_messages));
	json_object_object_add(req, "WaitTimeSeconds",
	    json_object_new_int((int)o->wait_time_s));
	if (o->visibility_timeout_s != 0 || o->visibility_given)
		json_object_object_add(req, "VisibilityTimeout",
		    json_object_new_int((int)o->visibility_timeout_s));
	json_object_array_add(names,
	    json_object_new_string("ApproximateReceiveCount"));
	json_object_array_add(names, json_object_new_string("SentTimestamp"));
	json_object_object_add(req, "MessageSystemAttributeNames", names);
	/* The long poll itself plus room for a slow reply. */
	return sqs_start(a, queue_url, "ReceiveMessage", req,
	    ((long)o->wait_time_s + 10) * 1000, sc, sqs_receive_done, ret);
}

/* Maps a batch reply's Successful/Failed lists onto results[]. */
static int
sqs_parse_batch(struct json_object *reply, int *results, size_t n)
{
	struct json_object *arr;
	size_t i;

	for (i = 0; i < n; i++)
		results[i] = -EIO; /* neither listed: unknown outcome */
	if (json_object_object_get_ex(reply, "Successful", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			const char *id =
			    sqs_str(json_object_array_get_idx(arr, i), "Id");
			unsigned long k =
			    id != NULL ? strtoul(id, NULL, 10) : n;

			if (k < n)
				results[k] = 0;
		}
	}
	if (json_object_object_get_ex(reply, "Failed", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		for (i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *f =
			    json_object_array_get_idx(arr, i);
			const char *id = sqs_str(f, "Id");
			const char *code = sqs_str(f, "Code");
			unsigned long k =
			    id != NULL ? strtoul(id, NULL, 10) : n;

			if (k >= n)
				continue;
			results[k] = code != NULL &&
				strstr(code, "ReceiptHandleIsInvalid") != NULL
			    ? -ENOENT
			    : -EINVAL;
		}
	}
	return 0;
}

static void
sqs_batch_done(const struct aws_result *res, void *arg)
{
	struct sqs_call *sc = arg;
	struct json_object *reply = sqs_reply(res);
	struct aws_result r2 = *res;
	int results[SQS_MAX_BATCH];
	size_t i;

	for (i = 0; i < sc->n; i++)
		results[i] = res->error != 0 ? res->error : -EBADMSG;
	if (reply != NULL)
		(void)sqs_parse_batch(reply, results, sc->n);
	else if (res->error == 0)
		r2.error = -EBADMSG;
	json_object_put(reply);
	sc->cb.batch(&r2, results, sc->n, sc->arg);
	free(sc);
}

static int
sqs_batch(struct aws *a, const char *action, const char *queue_url,
    const char *const *handles, size_t n, int timeout_s, sqs_batch_cb *cb,
    void *arg, struct aws_op **ret)
{
	struct json_object *req;
	struct json_object *entries;
	struct sqs_call *sc;
	size_t i;

	if (n == 0 || n > SQS_MAX_BATCH)
		return -EINVAL;
	req = json_object_new_object();
	entries = json_object_new_array();
	sc = calloc(1, sizeof(*sc));
	if (req == NULL || entries == NULL || sc == NULL) {
		json_object_put(req);
		json_object_put(entries);
		free(sc);
		return -ENOMEM;
	}
	sc->cb.batch = cb;
	sc->arg = arg;
	sc->n = n;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		char id[8];

		(void)snprintf(id, sizeof(id), "%zu", i);
		json_object_object_add(e, "Id", json_object_new_string(id));
		json_object_object_add(e, "ReceiptHandle",
		    json_object_new_string(handles[i]));
		if (timeout_s >= 0)
			json_object_object_add(e, "VisibilityTimeout",
			    json_object_new_int(timeout_s));
		json_object_array_add(entries, e);
	}
	json_object_object_add(req, "QueueUrl",
	    json_object_new_string(queue_url));
	json_object_object_add(req, "Entries", entries);
	return sqs_start(a, queue_url, action, req, 30000, sc, sqs_batch_done,
	    ret);
}

int
sqs_delete_batch(struct aws *a, const char *queue_url,
    const char *const *receipt_handles, size_t n, sqs_batch_cb *cb, void *arg,
    struct aws_op **ret)
{
	return sqs_batch(a, "DeleteMessageBatch", queue_url, receipt_handles, n,
	    -1, cb, arg, ret);
}

int
sqs_change_visibility_batch(struct aws *a, const char *queue_url,
    const char *const *receipt_handles, size_t n, unsigned timeout_s,
    sqs_batch_cb *cb, void *arg, struct aws_op **ret)
{
	return sqs_batch(a, "ChangeMessageVisibilityBatch", queue_url,
	    receipt_handles, n, (int)timeout_s, cb, arg, ret);
}

static void
sqs_attrs_done(const struct aws_result *res, void *arg)
{
	struct sqs_call *sc = arg;
	struct json_object *reply = sqs_reply(res);
	struct json_object *attrs = NULL;
	struct aws_result r2 = *res;

	if (reply != NULL)
		(void)json_object_object_get_ex(reply, "Attributes", &attrs);
	if (res->error == 0 && reply == NULL)
		r2.error = -EBADMSG;
	sc->cb.attrs(&r2, attrs, sc->arg);
	json_object_put(reply);
	free(sc);
}

int
sqs_get_queue_attributes(struct aws *a, const char *queue_url,
    const char *const *names, size_t n, sqs_attrs_cb *cb, void *arg,
    struct aws_op **ret)
{
	struct json_object *req = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	struct sqs_call *sc = calloc(1, sizeof(*sc));
	size_t i;

	if (req == NULL || arr == NULL || sc == NULL) {
		json_object_put(req);
		json_object_put(arr);
		free(sc);
		return -ENOMEM;
	}
	sc->cb.attrs = cb;
	sc->arg = arg;
	for (i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(names[i]));
	json_object_object_add(req, "QueueUrl",
	    json_object_new_string(queue_url));
	json_object_object_add(req, "AttributeNames", arr);
	return sqs_start(a, queue_url, "GetQueueAttributes", req, 30000, sc,
	    sqs_attrs_done, ret);
}
