/*
 * bounds.h: every ceiling on a user- or peer-controlled resource, with why.
 */
#ifndef SMTRAIL_BOUNDS_H
#define SMTRAIL_BOUNDS_H

/* CloudTrail caps an event at 256 KB; leave room for pretty-printed files. */
#define TRAIL_MAX_RECORD (4u << 20)
/* Nesting, top-level object included; deeper is not a CloudTrail file. */
#define TRAIL_MAX_DEPTH 512
/* Default cap on an object's inflated size (an org trail file is < 1 GB). */
#define TRAIL_MAX_INFLATED (2ull << 30)
/* A rules or config file larger than this is a mistake, not a config. */
#define RULES_MAX_FILE (4u << 20)
/* Rendered summary text; Slack and PagerDuty cut far below this. */
#define ALERT_MAX_TEXT (64u << 10)
/* One alert as a JSON line, raw record excluded. */
#define ALERT_MAX_JSON (256u << 10)
/* Nesting of any:/all:/not: in a rule. */
#define RULES_MAX_DEPTH 16

#endif
