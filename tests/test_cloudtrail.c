/*
 * test_cloudtrail.c: LookupEvents' request body and reply parsing. Hostile
 * replies first (not JSON, trailing bytes, NUL bytes, wrong types, an
 * event without its record, bad times, too many events, a huge token, deep
 * nesting): each fails the whole page with -EBADMSG or -E2BIG; then the
 * documented shape, and the request's exact text.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/cloudtrail.h"
#include "tap.h"

static int
parse(const char *body, size_t len, struct cloudtrail_page *p)
{
	memset(p, 0, sizeof(*p));
	return cloudtrail_parse_page(body, len, p);
}

static int
parse_str(const char *body)
{
	struct cloudtrail_page p;
	int r = parse(body, strlen(body), &p);

	cloudtrail_page_done(&p);
	return r;
}

static const char ev1[] =
    "{\"EventId\":\"e1\",\"EventName\":\"GetSecretValue\","
    "\"EventTime\":1700000100,\"CloudTrailEvent\":"
    "\"{\\\"eventID\\\":\\\"e1\\\",\\\"x\\\":\\\"}{\\\\\\\"\\\"}\"}";

static void
hostile(void)
{
	char *big;
	char nul[] = "{\"Events\":[]}\0x";
	size_t i;
	size_t n;

	is_int(parse_str(""), -EBADMSG, "empty");
	is_int(parse_str("{"), -EBADMSG, "truncated");
	is_int(parse_str("{}x"), -EBADMSG, "trailing bytes");
	is_int(parse_str("{} {}"), -EBADMSG, "two documents");
	{
		struct cloudtrail_page p;

		is_int(parse(nul, sizeof(nul) - 1, &p), -EBADMSG, "NUL byte");
	}
	is_int(parse_str("[]"), -EBADMSG, "an array");
	is_int(parse_str("\"Events\""), -EBADMSG, "a string");
	is_int(parse_str("{\"Events\":{}}"), -EBADMSG, "Events an object");
	is_int(parse_str("{\"Events\":[1]}"), -EBADMSG, "an event a number");
	is_int(parse_str("{\"Events\":[{\"EventTime\":1}]}"), -EBADMSG,
	    "an event without CloudTrailEvent");
	is_int(parse_str("{\"Events\":[{\"EventTime\":1,"
			 "\"CloudTrailEvent\":{}}]}"),
	    -EBADMSG, "CloudTrailEvent an object");
	is_int(parse_str("{\"Events\":[{\"EventTime\":1,"
			 "\"CloudTrailEvent\":\"\"}]}"),
	    -EBADMSG, "CloudTrailEvent empty");
	is_int(parse_str("{\"Events\":[{\"EventTime\":1,"
			 "\"CloudTrailEvent\":\"a\\u0000b\"}]}"),
	    -EBADMSG, "CloudTrailEvent with a NUL");
	is_int(parse_str("{\"Events\":[{\"CloudTrailEvent\":\"{}\"}]}"),
	    -EBADMSG, "no EventTime");
	is_int(parse_str("{\"Events\":[{\"EventTime\":\"2024-01-01\","
			 "\"CloudTrailEvent\":\"{}\"}]}"),
	    -EBADMSG, "EventTime a string");
	is_int(parse_str("{\"Events\":[{\"EventTime\":-5,"
			 "\"CloudTrailEvent\":\"{}\"}]}"),
	    -EBADMSG, "EventTime negative");
	is_int(parse_str("{\"Events\":[{\"EventTime\":1e300,"
			 "\"CloudTrailEvent\":\"{}\"}]}"),
	    -EBADMSG, "EventTime huge");
	is_int(parse_str("{\"Events\":[],\"NextToken\":5}"), -EBADMSG,
	    "NextToken a number");
	is_int(parse_str("{\"Events\":[],\"NextToken\":\"\"}"), -EBADMSG,
	    "NextToken empty");
	is_int(parse_str("{\"Events\":["
			 "{\"EventTime\":1,\"CloudTrailEvent\":"
			 "\"{}\"},"
			 "7]}"),
	    -EBADMSG, "a good event then a bad one: the page fails");
	is_int(parse_str("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]"
			 "]]]]]]]]]]]]]]]"),
	    -EBADMSG, "deep nesting");
	is_int(parse_str("{\"Events\":[],\"NextToken\":\"\\ud800\"}"), 0,
	    "a lone surrogate in the token: json-c's business, kept");

	/* 51 events: more than a page may hold. */
	n = 16 + 51 * 64;
	big = malloc(n);
	if (big == NULL)
		return;
	(void)snprintf(big, n, "{\"Events\":[");
	for (i = 0; i < 51; i++)
		(void)snprintf(big + strlen(big), n - strlen(big),
		    "%s{\"EventTime\":1,\"CloudTrailEvent\":\"{}\"}",
		    i > 0 ? "," : "");
	(void)snprintf(big + strlen(big), n - strlen(big), "]}");
	is_int(parse_str(big), -E2BIG, "51 events");
	free(big);

	n = CLOUDTRAIL_MAX_TOKEN + 64;
	big = malloc(n);
	if (big == NULL)
		return;
	(void)snprintf(big, n, "{\"NextToken\":\"");
	for (i = strlen(big); i < CLOUDTRAIL_MAX_TOKEN + 20; i++)
		big[i] = 'A';
	big[i] = '\0';
	(void)snprintf(big + i, n - i, "\"}");
	is_int(parse_str(big), -E2BIG, "a token over the limit");
	free(big);
}

static void
happy(void)
{
	struct cloudtrail_page p;
	char body[2048];
	const char *body_s;
	int r;

	r = parse("{}", 2, &p);
	is_int(r, 0, "{}: an empty last page");
	is_int((long long)p.n, 0, "no events");
	ok(p.next_token == NULL, "no token");
	cloudtrail_page_done(&p);

	body_s = "{\"Events\":[],\"NextToken\":null}";
	r = parse(body_s, strlen(body_s), &p);
	is_int(r, 0, "NextToken null: the last page");
	ok(p.next_token == NULL, "null token is none");
	cloudtrail_page_done(&p);

	(void)snprintf(body, sizeof(body),
	    "{\"Events\":[%s,{\"EventTime\":1699999999.75,"
	    "\"CloudTrailEvent\":\"{}\",\"Resources\":[]}],"
	    "\"NextToken\":\"tok/+=\"}",
	    ev1);
	r = parse(body, strlen(body), &p);
	is_int(r, 0, "two events and a token");
	is_int((long long)p.n, 2, "two events");
	is_str(p.events[0].event_id, "e1", "EventId");
	is_int((long long)p.events[0].event_time, 1700000100, "EventTime");
	is_str(p.events[0].record, "{\"eventID\":\"e1\",\"x\":\"}{\\\"\"}",
	    "CloudTrailEvent unescaped, braces and quotes kept");
	is_int((long long)p.events[0].record_len,
	    (long long)strlen(p.events[0].record), "record_len");
	is_str(p.events[1].event_id, "", "EventId absent: empty");
	is_int((long long)p.events[1].event_time, 1699999999,
	    "a fractional EventTime kept whole");
	is_str(p.next_token, "tok/+=", "NextToken");
	cloudtrail_page_done(&p);
	cloudtrail_page_done(&p); /* twice: zeroed */
	cloudtrail_page_done(NULL);
}

static void
request(void)
{
	struct cloudtrail_lookup q = {.region = "eu-west-1",
	    .event_source = "secretsmanager.amazonaws.com",
	    .start_s = 1700000000,
	    .end_s = 1700003600};
	char *s = NULL;

	is_int(cloudtrail_request_body(&q, &s), 0, "request body");
	is_str(s,
	    "{\"LookupAttributes\":[{\"AttributeKey\":\"EventSource\","
	    "\"AttributeValue\":\"secretsmanager.amazonaws.com\"}],"
	    "\"StartTime\":1700000000,\"EndTime\":1700003600,"
	    "\"MaxResults\":50}",
	    "first page");
	free(s);
	q.next_token = "a/b\"c";
	q.max_results = 7;
	s = NULL;
	is_int(cloudtrail_request_body(&q, &s), 0, "request body, token");
	is_str(s,
	    "{\"LookupAttributes\":[{\"AttributeKey\":\"EventSource\","
	    "\"AttributeValue\":\"secretsmanager.amazonaws.com\"}],"
	    "\"StartTime\":1700000000,\"EndTime\":1700003600,"
	    "\"MaxResults\":7,\"NextToken\":\"a/b\\\"c\"}",
	    "a later page: same parameters, the token escaped");
	free(s);
	q.start_s = q.end_s + 1;
	is_int(cloudtrail_lookup_events(NULL, &q, NULL, NULL, NULL), -EINVAL,
	    "start after end");
	q.start_s = 1;
	q.region = "EU-west";
	is_int(cloudtrail_lookup_events(NULL, &q, NULL, NULL, NULL), -EINVAL,
	    "a malformed region");
	q.region = NULL;
	is_int(cloudtrail_lookup_events(NULL, &q, NULL, NULL, NULL), -EINVAL,
	    "no region");
	q.region = "eu-west-1";
	q.max_results = 51;
	is_int(cloudtrail_lookup_events(NULL, &q, NULL, NULL, NULL), -EINVAL,
	    "MaxResults 51");
}

int
main(void)
{
	hostile();
	happy();
	request();
	return done_testing();
}
