/*
 * tap.h: a tiny TAP producer for the tests (automake's tap-driver.sh reads
 * it). Header-only; each test binary includes it once. ok() and friends
 * print one "ok N - name" line, with the expected and actual values as
 * diagnostics on failure; done_testing() prints the plan and returns the
 * exit status (0 when all passed).
 */
#ifndef SMTRAIL_TAP_H
#define SMTRAIL_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n;
static int tap_failed;

static void tap_vresult(int pass, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0), unused));

static void
tap_vresult(int pass, const char *fmt, va_list ap)
{
	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

static int ok(int pass, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));
static int
ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static int is_int(long long got, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	return got == want;
}

static int is_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), unused));
static int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int pass;

	pass =
	    got != NULL && want != NULL ? strcmp(got, want) == 0 : got == want;
	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		    want ? want : "(null)");
	return pass;
}

static void diag_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), unused));
static void
diag_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int done_testing(void) __attribute__((unused));
static int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed == 0 && tap_n > 0 ? 0 : 1;
}

/* Where ../shared/data lives: $SMTRAIL_SHARED_DATA, set by the Makefile. */
static const char *tap_shared_data(void) __attribute__((unused));
static const char *
tap_shared_data(void)
{
	const char *d = getenv("SMTRAIL_SHARED_DATA");

	return d != NULL ? d : "../shared/data";
}

#endif
