/*
 * common.h: the few macros and types every module uses.
 * MUST_CHECK marks fallible functions whose result must be looked at.
 * struct span is a view into someone else's buffer: it owns nothing.
 */
#ifndef SMTRAIL_COMMON_H
#define SMTRAIL_COMMON_H

#include <stddef.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED(x) ((void)(x))

struct span {
	const char *p;
	size_t len;
};

#endif
