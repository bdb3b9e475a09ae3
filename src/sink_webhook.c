/*
 * sink_webhook.c: the webhook kind; see sink_webhook.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sink_kind.h"
#include "sink_webhook.h"

enum webhook_opt { WEBHOOK_URL, WEBHOOK_HMAC_SECRET };

static const struct sink_opt webhook_opts[] = {
    [WEBHOOK_URL] = {.key = "url", .form = SINK_OPT_URL, .required = true},
    [WEBHOOK_HMAC_SECRET] = {.key = "hmac_secret", .form = SINK_OPT_SECRET},
};

int
webhook_signature(const void *key, size_t key_len, const void *body, size_t len,
    char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	unsigned int i;

	if (size < 7 + 2 * 32 + 1)
		return -ENOBUFS;
	if (HMAC(EVP_sha256(), key, (int)key_len, body, len, mac, &mac_len) ==
	    NULL)
		return -ENOMEM;
	memcpy(buf, "sha256=", 7);
	for (i = 0; i < mac_len; i++) {
		buf[7 + 2 * i] = hex[mac[i] >> 4];
		buf[7 + 2 * i + 1] = hex[mac[i] & 15];
	}
	buf[7 + 2 * mac_len] = '\0';
	return 0;
}

static int
webhook_render(const char *const *v, const char *alert_json, size_t len,
    struct sink_request *out, struct diag *reterr)
{
	const char *key = v[WEBHOOK_HMAC_SECRET];
	char sig[128];
	int r;

	UNUSED(reterr);
	r = buf_append(&out->body, alert_json, len);
	if (r < 0 || key == NULL)
		return r;
	r = webhook_signature(key, strlen(key), out->body.data, out->body.len,
	    sig, sizeof(sig));
	if (r < 0)
		return r;
	(void)snprintf(out->headers[out->n_headers++], SINK_MAX_HEADER_LINE,
	    "X-Smtrail-Signature: %s", sig);
	return 0;
}

const struct sink_kind webhook_kind = {
    .name = "webhook",
    SINK_KIND_OPTS(webhook_opts),
    .network = true,
    .retry_after = true,
    .render = webhook_render,
};
