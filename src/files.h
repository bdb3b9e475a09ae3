/*
 * files.h: local CloudTrail log files as a source (`smtrail replay`).
 *
 * files_expand() turns command-line paths into the list of files to read: a
 * file stands for itself (whatever its name); a directory is walked
 * recursively in byte order of names, taking regular files named *.json or
 * *.json.gz, skipping dot-files and CloudTrail-Digest directories. A path
 * that cannot be examined is kept, so that reading it reports the error in
 * order. files_scan() streams one file through a trail scanner in fixed-size
 * reads. Never prints.
 */
#ifndef SMTRAIL_FILES_H
#define SMTRAIL_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "trail.h"

struct diag;

struct files_list {
	char **paths;
	size_t n;
	size_t cap;
};

int files_expand(char *const *args, size_t n,
    struct files_list *ret) MUST_CHECK; /* -ENOMEM only */
void files_list_done(struct files_list *l);

/* -errno from open/read, or the scanner's error; diag names the file. */
int files_scan(const char *path, struct trail *t, trail_record_cb *cb,
    void *arg, struct diag *reterr) MUST_CHECK;

#endif
