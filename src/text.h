/*
 * text.h: text for receivers (Slack, PagerDuty, webhooks), below the sinks.
 *
 * Invalid UTF-8 becomes U+FFFD; with TEXT_MRKDWN '&', '<' and '>' become
 * entities (Slack); with TEXT_ONELINE control characters, newlines
 * included, become spaces (without it, other controls but '\n' and '\t'
 * do). The result is cut on a character (and entity) boundary so that it
 * takes at most max bytes, ending in U+2026 when cut. Byte limits are safe
 * for limits counted in characters. On failure (-ENOMEM, -E2BIG: the
 * buffer's own ceiling) the buffer is left as it was. Pure; any thread.
 */
#ifndef SMTRAIL_TEXT_H
#define SMTRAIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

struct buf;

#define TEXT_MRKDWN 1u
#define TEXT_ONELINE 2u

/* Adds the text of s to t, max counting from the start of t: 1 when it
 * cut or had no room (the caller stops adding), 0 when all fit. */
int text_append(struct buf *t, const char *s, size_t len, size_t max,
    unsigned flags) MUST_CHECK;
/* Appends a JSON string literal of the text (max counts the text, not the
 * escapes); 0 whether cut or not. */
int text_json(struct buf *b, const char *s, size_t len, size_t max,
    unsigned flags) MUST_CHECK;
/* True when s is valid UTF-8 without control characters. */
bool text_clean(const char *s, size_t len);
/* Percent-encodes all but RFC 3986's unreserved characters. */
int text_url_encode(struct buf *b, const char *s) MUST_CHECK;

#endif
