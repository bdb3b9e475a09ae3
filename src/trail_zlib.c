/*
 * trail_zlib.c: the zlib inflater backend (trail_gz.h), compiled when
 * configure is given --without-isal or finds no libisal.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define ZLIB_CONST
#include <zlib.h>

#include "trail_gz.h"

struct trail_gz {
	z_stream s;
};

static int
trail_zlib_new(struct trail_gz **ret)
{
	struct trail_gz *z;
	int r;

	z = calloc(1, sizeof(*z));
	if (z == NULL)
		return -ENOMEM;
	/* 15 + 16: gzip wrapper only, 32 KiB history. */
	r = inflateInit2(&z->s, 15 + 16);
	if (r != Z_OK) {
		free(z);
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	*ret = z;
	return 0;
}

static void
trail_zlib_free(struct trail_gz *z)
{
	if (z == NULL)
		return;
	(void)inflateEnd(&z->s);
	free(z);
}

static void
trail_zlib_reset(struct trail_gz *z)
{
	(void)inflateReset(&z->s);
}

static int
trail_zlib_run(struct trail_gz *z, const unsigned char **in, size_t *inlen,
    unsigned char *out, size_t *outlen, bool *ret_end, const char **ret_why)
{
	uInt avail;
	int ret;

	avail = *inlen > (uInt)-1 ? (uInt)-1 : (uInt)*inlen;
	z->s.next_in = *in;
	z->s.avail_in = avail;
	z->s.next_out = out;
	z->s.avail_out = (uInt)*outlen;
	ret = inflate(&z->s, Z_NO_FLUSH);
	*in += avail - z->s.avail_in;
	*inlen -= avail - z->s.avail_in;
	*outlen -= z->s.avail_out;
	switch (ret) {
	case Z_OK:
	case Z_BUF_ERROR: /* no progress possible: needs input */
		*ret_end = false;
		return 0;
	case Z_STREAM_END:
		*ret_end = true;
		return 0;
	case Z_MEM_ERROR:
		return -ENOMEM;
	case Z_NEED_DICT:
		*ret_why = "needs a dictionary";
		return -EBADMSG;
	}
	*ret_why = z->s.msg != NULL ? z->s.msg : "inflate error";
	return -EBADMSG;
}

const struct trail_gz_kind trail_gz = {
    .name = "zlib",
    .new = trail_zlib_new,
    .free = trail_zlib_free,
    .reset = trail_zlib_reset,
    .run = trail_zlib_run,
};
