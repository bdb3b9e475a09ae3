/*
 * fuzz_cloudtrail.c: LookupEvents replies (cloudtrail_parse_page()) on any
 * bytes. Besides not crashing, a page that parses must keep cloudtrail.h's
 * promises, checked here (a broken one aborts): at most
 * CLOUDTRAIL_MAX_RESULTS events, each with a non-empty record of exactly
 * record_len bytes without a NUL, and a token, when there is one, of 1 to
 * CLOUDTRAIL_MAX_TOKEN bytes. A refused reply leaves *ret alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/cloudtrail.h"
#include "fuzz.h"

static void
fc_broken(const char *what)
{
	(void)fprintf(stderr, "fuzz_cloudtrail: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cloudtrail_page p;
	struct cloudtrail_page sentinel;
	size_t i;
	int r;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	p = sentinel;
	r = cloudtrail_parse_page((const char *)data, size, &p);
	if (r < 0) {
		if (memcmp(&p, &sentinel, sizeof(p)) != 0)
			fc_broken("a refused reply touched *ret");
		return 0;
	}
	if (p.n > CLOUDTRAIL_MAX_RESULTS)
		fc_broken("more events than a page holds");
	for (i = 0; i < p.n; i++) {
		const struct cloudtrail_event *e = &p.events[i];

		if (e->record == NULL || e->record_len == 0 ||
		    strlen(e->record) != e->record_len || e->event_id == NULL)
			fc_broken("an event's record is not what it says");
	}
	if (p.next_token != NULL &&
	    (p.next_token[0] == '\0' ||
		strlen(p.next_token) > CLOUDTRAIL_MAX_TOKEN))
		fc_broken("a token out of bounds");
	cloudtrail_page_done(&p);
	return 0;
}
