/*
 * clock.c: see clock.h. The parsers advance a cursor only on success
 * (curl's strparse idiom) and chain with &&.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "clock.h"

uint64_t
now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
clock_wall_s(clock_wall_fn *fn, void *arg)
{
	return fn != NULL ? fn(arg) : (uint64_t)time(NULL);
}

struct timeval
clock_tv_us(uint64_t us)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(us / US_PER_S);
	tv.tv_usec = (suseconds_t)(us % US_PER_S);
	return tv;
}

struct timeval
clock_tv_ms(uint64_t ms)
{
	return clock_tv_us(ms * US_PER_MS);
}

/* ---- the calendar (days_from_civil, H. Hinnant) ------------------------ */

static long long
clock_days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe;
	unsigned doy;
	unsigned doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static bool
clock_valid_ymd(int y, int m, int d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (m < 1 || m > 12 || d < 1)
		return false;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

int
clock_make_time(int y, int mo, int d, int h, int mi, int s, time_t *ret)
{
	long long t;

	if (!clock_valid_ymd(y, mo, d) || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || s < 0 || s > 60)
		return -EINVAL;
	t = clock_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + s;
	if ((long long)(time_t)t != t)
		return -EINVAL;
	*ret = (time_t)t;
	return 0;
}

/* ---- cursor parsers ---------------------------------------------------- */

static bool
clock_p_digits(const char **pp, int n, int *ret)
{
	const char *p = *pp;
	int v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*ret = v;
	return true;
}

static bool
clock_p_lit(const char **pp, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*pp, lit, n) != 0)
		return false;
	*pp += n;
	return true;
}

/* One character of set (never the NUL). */
static bool
clock_p_oneof(const char **pp, const char *set)
{
	if (**pp == '\0' || strchr(set, **pp) == NULL)
		return false;
	(*pp)++;
	return true;
}

/* One of names, exactly as spelt (HTTP dates are case-sensitive). */
static bool
clock_p_word(const char **pp, const char *const *names, int count, int *ret)
{
	int i;

	for (i = 0; i < count; i++)
		if (clock_p_lit(pp, names[i])) {
			*ret = i;
			return true;
		}
	return false;
}

static bool
clock_p_hms(const char **pp, int *h, int *mi, int *s)
{
	const char *p = *pp;

	if (!clock_p_digits(&p, 2, h) || !clock_p_lit(&p, ":") ||
	    !clock_p_digits(&p, 2, mi) || !clock_p_lit(&p, ":") ||
	    !clock_p_digits(&p, 2, s))
		return false;
	*pp = p;
	return true;
}

/* ---- ISO 8601 ---------------------------------------------------------- */

int
clock_format_iso8601(uint64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t > (uint64_t)INT64_MAX / 2 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -EINVAL;
	return 0;
}
int
clock_parse_iso8601(const char *s, time_t *ret)
{
	const char *p = s;
	int y;
	int mo;
	int d;
	int h;
	int mi;
	int sec;
	int oh = 0;
	int om = 0;
	int sign = 0;
	time_t t;

	if (s == NULL)
		return -EBADMSG;
	if (!clock_p_digits(&p, 4, &y) || !clock_p_lit(&p, "-") ||
	    !clock_p_digits(&p, 2, &mo) || !clock_p_lit(&p, "-") ||
	    !clock_p_digits(&p, 2, &d) || !clock_p_oneof(&p, "Tt ") ||
	    !clock_p_hms(&p, &h, &mi, &sec))
		return -EBADMSG;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EBADMSG;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!clock_p_digits(&p, 2, &oh))
			return -EBADMSG;
		if (*p == ':')
			p++;
		if (!clock_p_digits(&p, 2, &om) || oh > 23 || om > 59)
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	if (*p != '\0' || clock_make_time(y, mo, d, h, mi, sec, &t) < 0)
		return -EBADMSG;
	*ret = t - sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- HTTP dates -------------------------------------------------------- */

static const char *const clock_months[12] = {"Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const clock_wkdays[7] = {"Mon", "Tue", "Wed", "Thu", "Fri",
    "Sat", "Sun"};
static const char *const clock_weekdays[7] = {"Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday"};

/* Sun, 06 Nov 1994 08:49:37 GMT */
static bool
clock_p_imf(const char *p, int f[6])
{
	int wd;

	return clock_p_word(&p, clock_wkdays, 7, &wd) &&
	    clock_p_lit(&p, ", ") && clock_p_digits(&p, 2, &f[2]) &&
	    clock_p_lit(&p, " ") && clock_p_word(&p, clock_months, 12, &f[1]) &&
	    clock_p_lit(&p, " ") && clock_p_digits(&p, 4, &f[0]) &&
	    clock_p_lit(&p, " ") && clock_p_hms(&p, &f[3], &f[4], &f[5]) &&
	    clock_p_lit(&p, " GMT") && *p == '\0';
}

/* Sunday, 06-Nov-94 08:49:37 GMT */
static bool
clock_p_rfc850(const char *p, int f[6])
{
	int wd;

	if (!(clock_p_word(&p, clock_weekdays, 7, &wd) &&
		clock_p_lit(&p, ", ") && clock_p_digits(&p, 2, &f[2]) &&
		clock_p_lit(&p, "-") &&
		clock_p_word(&p, clock_months, 12, &f[1]) &&
		clock_p_lit(&p, "-") && clock_p_digits(&p, 2, &f[0]) &&
		clock_p_lit(&p, " ") && clock_p_hms(&p, &f[3], &f[4], &f[5]) &&
		clock_p_lit(&p, " GMT") && *p == '\0'))
		return false;
	f[0] += f[0] < 70 ? 2000 : 1900;
	return true;
}

/* Sun Nov  6 08:49:37 1994 */
static bool
clock_p_asctime(const char *p, int f[6])
{
	int wd;

	if (!(clock_p_word(&p, clock_wkdays, 7, &wd) && clock_p_lit(&p, " ") &&
		clock_p_word(&p, clock_months, 12, &f[1]) &&
		clock_p_lit(&p, " ")))
		return false;
	if (!clock_p_digits(&p, 2, &f[2]) &&
	    !(clock_p_lit(&p, " ") && clock_p_digits(&p, 1, &f[2])))
		return false;
	return clock_p_lit(&p, " ") && clock_p_hms(&p, &f[3], &f[4], &f[5]) &&
	    clock_p_lit(&p, " ") && clock_p_digits(&p, 4, &f[0]) && *p == '\0';
}

int
clock_parse_http_date(const char *s, time_t *ret)
{
	int f[6] = {0, 0, 0, 0, 0, 0}; /* year, month 0-11, day, h, m, s */

	if (s == NULL || ret == NULL)
		return -EINVAL;
	if (!clock_p_imf(s, f) && !clock_p_rfc850(s, f) &&
	    !clock_p_asctime(s, f))
		return -EINVAL;
	return clock_make_time(f[0], f[1] + 1, f[2], f[3], f[4], f[5], ret);
}
