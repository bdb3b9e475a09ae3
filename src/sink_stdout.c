/*
 * sink_stdout.c: the stdout kind (sink_kind.h), for `replay --deliver` and
 * pipes: one JSON line per alert, as the spool holds it (with "record"),
 * written to the sink's fd. No options, no network.
 */
#include "sink_kind.h"

static int
stdout_render(const char *const *v, const char *alert_json, size_t len,
    struct sink_request *out, struct diag *reterr)
{
	int r;

	UNUSED(v);
	UNUSED(reterr);
	r = buf_append(&out->body, alert_json, len);
	return r < 0 ? r : buf_putc(&out->body, '\n');
}

const struct sink_kind stdout_kind = {
    .name = "stdout",
    .render = stdout_render,
};
