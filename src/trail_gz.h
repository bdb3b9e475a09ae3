/*
 * trail_gz.h: the scanner's inflater seam (private to trail*.c).
 *
 * Each backend is one const struct trail_gz_kind in its own file:
 * trail_isal.c (ISA-L) and trail_zlib.c (zlib). configure picks one
 * (--with-isal, the default when libisal is found) and Makefile.am compiles
 * only that file, which defines trail_gz; trail.c knows nothing else of it,
 * the way Redis's ae.c knows ae_epoll.c or ae_select.c only through aeApi*.
 *
 * run() inflates from *in into out (at most *outlen bytes), moves *in and
 * *inlen past what it consumed, sets *outlen to what it produced and
 * *ret_end when a gzip member (trailer checked) ended. -EBADMSG with
 * *ret_why (static text) for corrupt input, -ENOMEM; a truncated member is
 * not an error here (more input may come): trail_finish() finds it.
 * reset() readies the state for the next member or object.
 */
#ifndef SMTRAIL_TRAIL_GZ_H
#define SMTRAIL_TRAIL_GZ_H

#include <stdbool.h>
#include <stddef.h>

struct trail_gz; /* opaque: the backend's state */

struct trail_gz_kind {
	const char *name; /* trail_inflater(): "isa-l", "zlib" */
	int (*new)(struct trail_gz **ret);
	void (*free)(struct trail_gz *z); /* NULL ok */
	void (*reset)(struct trail_gz *z);
	int (*run)(struct trail_gz *z, const unsigned char **in, size_t *inlen,
	    unsigned char *out, size_t *outlen, bool *ret_end,
	    const char **ret_why);
};

/* The backend compiled in. */
extern const struct trail_gz_kind trail_gz;

#endif
