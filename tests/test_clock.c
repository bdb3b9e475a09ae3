/*
 * test_clock.c: the clock module's own parts: calendar fields to time_t
 * (out-of-range fields first), timeval conversion, and a monotonic now.
 * Its parsers are tested where their callers are: HTTP dates in
 * test_sigv4.c, ISO 8601 in test_creds.c.
 */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "tap.h"

int
main(void)
{
	struct timeval tv;
	time_t t = 7;
	uint64_t a;
	uint64_t b;

	/* What must fail first; *ret untouched. */
	is_int(clock_make_time(2023, 2, 29, 0, 0, 0, &t), -EINVAL,
	    "no 29 February in 2023");
	is_int(clock_make_time(2024, 13, 1, 0, 0, 0, &t), -EINVAL, "month 13");
	is_int(clock_make_time(2024, 0, 1, 0, 0, 0, &t), -EINVAL, "month 0");
	is_int(clock_make_time(2024, 4, 31, 0, 0, 0, &t), -EINVAL, "31 April");
	is_int(clock_make_time(2024, 1, 1, 24, 0, 0, &t), -EINVAL, "hour 24");
	is_int(clock_make_time(2024, 1, 1, 0, 60, 0, &t), -EINVAL, "minute 60");
	is_int(clock_make_time(2024, 1, 1, 0, 0, 61, &t), -EINVAL, "second 61");
	is_int(clock_make_time(2024, 1, 1, -1, 0, 0, &t), -EINVAL,
	    "a negative hour");
	is_int((long long)t, 7, "refused: output untouched");

	is_int(clock_make_time(1970, 1, 1, 0, 0, 0, &t), 0, "the epoch");
	is_int((long long)t, 0, "the epoch is 0");
	is_int(clock_make_time(2024, 2, 29, 12, 0, 0, &t), 0, "a leap day");
	is_int((long long)t, 1709208000LL, "a leap day's value");
	is_int(clock_make_time(1994, 11, 6, 8, 49, 60, &t), 0, "a leap second");
	is_int((long long)t, 784111800LL, "a leap second is the next minute");
	is_int(clock_make_time(1969, 12, 31, 23, 59, 59, &t), 0,
	    "before the epoch");
	is_int((long long)t, -1, "before the epoch is negative");

	tv = clock_tv_us(2500001);
	ok(tv.tv_sec == 2 && tv.tv_usec == 500001, "2500001 us: 2 s 500001 us");
	tv = clock_tv_ms(61001);
	ok(tv.tv_sec == 61 && tv.tv_usec == 1000, "61001 ms: 61 s 1000 us");
	tv = clock_tv_ms(0);
	ok(tv.tv_sec == 0 && tv.tv_usec == 0, "0 ms: zero");
	is_int((long long)(US_PER_S / US_PER_MS), (long long)MS_PER_S,
	    "the constants agree");

	a = now_us();
	b = now_us();
	ok(a > 0 && b >= a, "now_us: monotonic");
	return done_testing();
}
