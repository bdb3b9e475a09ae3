/*
 * sink_kind.c: see sink_kind.h. The table, in the order messages name the
 * kinds ("expected webhook, stdout, slack or pagerduty").
 */
#include <string.h>

#include "sink_kind.h"

extern const struct sink_kind webhook_kind; /* sink_webhook.c */
extern const struct sink_kind stdout_kind;  /* sink_stdout.c */
extern const struct sink_kind slack_kind;   /* sink_slack.c */
extern const struct sink_kind pd_kind;      /* sink_pd.c */

const struct sink_kind *const sink_kinds[SINK_MAX_KINDS + 1] = {
    &webhook_kind,
    &stdout_kind,
    &slack_kind,
    &pd_kind,
    NULL,
};

const struct sink_kind *
sink_kind_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && sink_kinds[i] != NULL; i++)
		if (strcmp(sink_kinds[i]->name, name) == 0)
			return sink_kinds[i];
	return NULL;
}

size_t
sink_kind_opt(const struct sink_kind *k, const char *key)
{
	size_t i;

	for (i = 0; i < k->n_opts; i++)
		if (strcmp(k->opts[i].key, key) == 0)
			break;
	return i;
}
