/*
 * test_buf.c: the growable buffer's ceilings and JSON escaping.
 */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

int
main(void)
{
	struct buf b;

	/* What must fail first. */
	buf_init(&b, 4);
	is_int(buf_append(&b, "hello", 5), -E2BIG, "over the ceiling fails");
	is_int((long long)b.len, 0, "and leaves the buffer untouched");
	is_int(buf_append(&b, "hell", 4), 0, "exactly the ceiling fits");
	is_int(buf_putc(&b, 'o'), -E2BIG, "one more byte does not");
	is_str(b.data, "hell", "data NUL-terminated");
	is_int(buf_printf(&b, "%d", 1), -E2BIG, "printf respects the ceiling");
	buf_done(&b);

	buf_init(&b, 1024);
	is_int(buf_json_str(&b, "a\"b\\c\n\x01/", 8), 0, "json string");
	is_str(b.data, "\"a\\\"b\\\\c\\n\\u0001/\"",
	    "escapes quotes, "
	    "backslash, controls");
	buf_reset(&b);
	is_int((long long)b.len, 0, "reset empties");
	is_int(buf_printf(&b, "%s-%d", "x", 42), 0, "printf");
	is_str(b.data, "x-42", "printf text");
	{
		char *s = buf_steal(&b);

		is_str(s, "x-42", "steal hands over the data");
		is_int((long long)b.len, 0, "and empties the buffer");
		free(s);
	}
	buf_done(&b);
	return done_testing();
}
