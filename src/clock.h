/*
 * clock.h: time, in one place. now_us() is the monotonic clock that every
 * timer, deadline, rate limit and backoff reads; the wall clock (time())
 * is only for eventTime, lag and what peers say the time is. Durations are
 * microseconds in a uint64_t; US_PER_S and friends convert, clock_tv_us()
 * and clock_tv_ms() make the struct timeval libevent wants.
 *
 * The parsers read the two ways peers write a time: ISO 8601 (credential
 * expirations) and HTTP dates (Date, Retry-After). They touch *ret only on
 * success. Our own calendar arithmetic, not timegm() (not C11, and it may
 * consult the environment). Pure, apart from now_us(); any thread.
 *
 * now_us() and the US_ constants keep their short names: they are used in
 * nearly every module.
 */
#ifndef SMTRAIL_CLOCK_H
#define SMTRAIL_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "common.h"

#define US_PER_MS 1000ull
#define MS_PER_S 1000ull
#define US_PER_S 1000000ull

/* Monotonic clock in microseconds: timers, deadlines, backoff. */
uint64_t now_us(void);

/* A wall clock that tests may stand in for: Unix seconds from fn(arg),
 * or time(2) when fn is NULL. */
typedef uint64_t clock_wall_fn(void *arg);
uint64_t clock_wall_s(clock_wall_fn *fn, void *arg);

/* A duration as a struct timeval (evtimer_add()). */
struct timeval clock_tv_us(uint64_t us);
struct timeval clock_tv_ms(uint64_t ms);

/*
 * "2026-11-25T12:00:00Z", also with fractional seconds (ignored), 't' or
 * ' ' for 'T', 'z' for 'Z', or an offset "+hh:mm", "-hh:mm", "+hhmm".
 * -EBADMSG if it is not such a time.
 */
int clock_parse_iso8601(const char *s, time_t *ret) MUST_CHECK;
/* Unix seconds as "2026-11-25T12:00:00Z" into buf (at least
 * CLOCK_ISO8601_SIZE bytes); -EINVAL for a time gmtime() cannot take. */
#define CLOCK_ISO8601_SIZE 32
int clock_format_iso8601(uint64_t t, char *buf, size_t size) MUST_CHECK;

/*
 * An HTTP date (RFC 9110 5.6.7): IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms; a 2-digit year is 1970-2069. -EINVAL if it is not one
 * (or s or ret is NULL).
 */
int clock_parse_http_date(const char *s, time_t *ret) MUST_CHECK;

/*
 * UTC calendar fields (month 1-12, day 1-31, second 0-60: a leap second is
 * the next minute's first) to time_t. -EINVAL for a day the month does not
 * have, a field out of range, or a time time_t cannot hold.
 */
int clock_make_time(int y, int mo, int d, int h, int mi, int s,
    time_t *ret) MUST_CHECK;

#endif
