/*
 * cloudtrail.h: CloudTrail's LookupEvents, the one CloudTrail call smtrail
 * makes (the lookup source), in the JSON 1.1 protocol (POST /, X-Amz-Target:
 * com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents,
 * application/x-amz-json-1.1), SigV4 service "cloudtrail", on the loop
 * through aws.h (signing, retries of ThrottlingException and 5xx with
 * backoff, error codes).
 *
 * Requests are signed for the call's region and go to
 * AWS_ENDPOINT_URL_CLOUDTRAIL, else aws.endpoint_url, else AWS_ENDPOINT_URL,
 * else https://cloudtrail.<region>.amazonaws.com (aws.h).
 *
 * The request: LookupAttributes [{AttributeKey: EventSource,
 * AttributeValue: <event_source>}], StartTime and EndTime (inclusive, epoch
 * seconds as JSON numbers), MaxResults (1-50), NextToken (a later page of
 * the same query: the other parameters must be the same). The reply:
 * Events[] newest first, each with EventId, EventTime (epoch seconds) and
 * CloudTrailEvent (the record, a JSON text), and NextToken when more pages
 * follow.
 *
 * Results (aws_result.error) beyond aws.h's: -EBADMSG, a reply that is not
 * the documented shape (an event without a CloudTrailEvent string, or
 * with a non-numeric EventTime, fails the page: no partial pages);
 * -ERANGE, InvalidTimeRangeException (the start is past the region's 90
 * days, or after the end); -ESTALE, InvalidNextTokenException (start the
 * query again without a token); -EAGAIN, ThrottlingException (or a 5xx)
 * after the last attempt. Never prints.
 */
#ifndef SMTRAIL_CLOUDTRAIL_H
#define SMTRAIL_CLOUDTRAIL_H

#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "common.h"

/* LookupEvents' limits: a page, and a reply we read at most (50 events of
 * at most ~100 KiB each, with room). */
#define CLOUDTRAIL_MAX_RESULTS 50
#define CLOUDTRAIL_MAX_REPLY (16u << 20)
#define CLOUDTRAIL_MAX_TOKEN 4096

struct cloudtrail_event {
	char *event_id;      /* EventId, "" when absent */
	uint64_t event_time; /* EventTime, epoch seconds */
	char *record;        /* CloudTrailEvent, the record's JSON text */
	size_t record_len;
};

/* One page, newest event first, as the reply had them. */
struct cloudtrail_page {
	struct cloudtrail_event *events;
	size_t n;
	char *next_token; /* NULL: the last page */
};

struct cloudtrail_lookup {
	const char *region;       /* sign for it and send there */
	const char *event_source; /* "secretsmanager.amazonaws.com" */
	uint64_t start_s;         /* inclusive */
	uint64_t end_s;           /* inclusive */
	unsigned max_results;     /* 1-50; 0: 50 */
	const char *next_token;   /* NULL: the first page */
	/* 0: aws.h's retries; 1: none, the caller retries (through its own
	 * rate limit: aws.h's retries would not wait for it). */
	unsigned max_attempts;
};

/* page is the callback's (cloudtrail_page_done), empty unless res->error is
 * 0. */
typedef void cloudtrail_lookup_cb(const struct aws_result *res,
    struct cloudtrail_page *page, void *arg);

/* -EINVAL: no region, a malformed one, start after end, max_results over 50. */
int cloudtrail_lookup_events(struct aws *a, const struct cloudtrail_lookup *q,
    cloudtrail_lookup_cb *cb, void *arg, struct aws_op **ret) MUST_CHECK;

/* The request body of q, NUL-terminated, into *ret (the caller frees);
 * exported for tests. */
int cloudtrail_request_body(const struct cloudtrail_lookup *q,
    char **ret) MUST_CHECK;
/* A LookupEvents reply body into *ret (filled only on success): -EBADMSG
 * when it is not the documented shape, -E2BIG over the limits above. */
int cloudtrail_parse_page(const char *body, size_t len,
    struct cloudtrail_page *ret) MUST_CHECK;
/* Frees a page's contents (not the struct); zeroes it. NULL ok. */
void cloudtrail_page_done(struct cloudtrail_page *p);

#endif
