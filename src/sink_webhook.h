/*
 * sink_webhook.h: the webhook kind (sink_kind.h) POSTs the alert's JSON
 * text as it is (with "record"), and with an hmac_secret signs it: the
 * header X-Smtrail-Signature: sha256=<hex of HMAC-SHA256(key, body)>, so
 * a receiver can check who sent it.
 */
#ifndef SMTRAIL_SINK_WEBHOOK_H
#define SMTRAIL_SINK_WEBHOOK_H

#include <stddef.h>

#include "common.h"

/* HMAC-SHA256 of body as "sha256=<hex>" into buf (at least 72 bytes, else
 * -ENOBUFS). Pure. */
int webhook_signature(const void *key, size_t key_len, const void *body,
    size_t len, char *buf, size_t size) MUST_CHECK;

#endif
