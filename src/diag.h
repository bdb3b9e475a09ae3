/*
 * diag.h: human detail about a failure, kept apart from the error code.
 * Fallible functions return a negative errno and, when given a struct diag,
 * say where and why in it (file:line:col, 1-based, 0 = n/a). Nothing here
 * prints. A diag_list collects every problem a loader finds (at most
 * DIAG_LIST_MAX, the rest counted), errors and warnings alike.
 */
#ifndef SMTRAIL_DIAG_H
#define SMTRAIL_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define DIAG_LIST_MAX 50

struct diag {
	char file[256];
	char msg[256];
	unsigned line;
	unsigned col;
	bool warning;
};

struct diag_list {
	struct diag items[DIAG_LIST_MAX];
	unsigned n;
	unsigned dropped;
	unsigned errors;
	unsigned warnings;
};

/* Fills d (NULL allowed) and returns r, so failing is one statement. */
int diag_set(struct diag *d, int r, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) PRINTF_LIKE(6, 7);

/* Adds an error to l (NULL allowed) and returns r. */
int diag_list_add(struct diag_list *l, int r, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) PRINTF_LIKE(6, 7);

/* Adds a warning to l (NULL allowed); warnings do not fail a load. */
void diag_list_warn(struct diag_list *l, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) PRINTF_LIKE(5, 6);

/* Appends an existing diag (e.g. from a sub-parser) as an error. */
void diag_list_push(struct diag_list *l, const struct diag *d);

/* "file:line:col: msg" (parts that are 0 or empty left out) into buf. */
const char *diag_format(const struct diag *d, char *buf, size_t size);

#endif
