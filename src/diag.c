/*
 * diag.c: see diag.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "diag.h"

static void
diag_vfill(struct diag *d, const char *file, unsigned line, unsigned col,
    bool warning, const char *fmt, va_list ap)
{
	memset(d, 0, sizeof(*d));
	if (file != NULL)
		(void)snprintf(d->file, sizeof(d->file), "%s", file);
	d->line = line;
	d->col = col;
	d->warning = warning;
	(void)vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

int
diag_set(struct diag *d, int r, const char *file, unsigned line, unsigned col,
    const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return r;
	va_start(ap, fmt);
	diag_vfill(d, file, line, col, false, fmt, ap);
	va_end(ap);
	return r;
}

static struct diag *
diag_list_next(struct diag_list *l, bool warning)
{
	if (warning)
		l->warnings++;
	else
		l->errors++;
	if (l->n == DIAG_LIST_MAX) {
		l->dropped++;
		return NULL;
	}
	return &l->items[l->n++];
}

int
diag_list_add(struct diag_list *l, int r, const char *file, unsigned line,
    unsigned col, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if (l == NULL)
		return r;
	d = diag_list_next(l, false);
	if (d == NULL)
		return r;
	va_start(ap, fmt);
	diag_vfill(d, file, line, col, false, fmt, ap);
	va_end(ap);
	return r;
}

void
diag_list_warn(struct diag_list *l, const char *file, unsigned line,
    unsigned col, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;

	if (l == NULL)
		return;
	d = diag_list_next(l, true);
	if (d == NULL)
		return;
	va_start(ap, fmt);
	diag_vfill(d, file, line, col, true, fmt, ap);
	va_end(ap);
}

void
diag_list_push(struct diag_list *l, const struct diag *src)
{
	struct diag *d;

	if (l == NULL)
		return;
	d = diag_list_next(l, src->warning);
	if (d != NULL)
		*d = *src;
}

const char *
diag_format(const struct diag *d, char *buf, size_t size)
{
	if (d->file[0] == '\0')
		(void)snprintf(buf, size, "%s", d->msg);
	else if (d->line == 0)
		(void)snprintf(buf, size, "%s: %s", d->file, d->msg);
	else if (d->col == 0)
		(void)snprintf(buf, size, "%s:%u: %s", d->file, d->line,
		    d->msg);
	else
		(void)snprintf(buf, size, "%s:%u:%u: %s", d->file, d->line,
		    d->col, d->msg);
	return buf;
}
