/*
 * fuzz_sigma.c: sigma-import (sigma.h) on any bytes as a file of Sigma
 * rules, from memory, the input split in two files half the time (so
 * correlations reach across files). Whatever is refused or written, the
 * promises hold: out of memory aside, sigma_emit() succeeds; its output
 * loads under the strict rules loader with exactly as many rules as it
 * says it translated; every refusal came with a message.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "fuzz.h"
#include "rules.h"
#include "sigma.h"

static void
fs_diag(const struct diag *d, void *arg)
{
	unsigned *n = arg;

	if (d->msg[0] == '\0')
		abort();
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigma_stats st;
	struct diag_list dl;
	struct rules *rs = NULL;
	struct sigma *s;
	struct buf out;
	unsigned msgs = 0;
	size_t cut = size;
	int r;

	if (fuzz_hash(data, size) % 2 == 1)
		cut = size / 2;
	s = sigma_new(fs_diag, &msgs);
	if (s == NULL)
		return 0;
	r = sigma_add_buffer(s, "a.yml", (const char *)data, cut);
	if (r != -ENOMEM)
		r = sigma_add_buffer(s, "b.yml", (const char *)data + cut,
		    size - cut);
	buf_init(&out, 64u << 20);
	memset(&st, 0, sizeof(st));
	if (r != -ENOMEM)
		r = sigma_emit(s, &out, &st);
	if (r == 0) {
		if (msgs < st.refused + st.errors)
			abort(); /* a refusal without a message */
		memset(&dl, 0, sizeof(dl));
		if (rules_load_buffer("out.yaml", out.data, out.len, true, &rs,
			&dl) < 0)
			abort(); /* a translation that does not load */
		if (rules_count(rs) != st.translated)
			abort();
		rules_free(rs);
	} else if (r != -ENOMEM) {
		abort();
	}
	buf_done(&out);
	sigma_free(s);
	return 0;
}
