/*
 * files.c: see files.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "files.h"

/* Big enough to amortise syscalls, small enough to stay in L2. */
#define FILES_READ_CHUNK (256u << 10)
/* Directory nesting we follow; CloudTrail's own layout is 8 deep. */
#define FILES_MAX_DEPTH 32

static int
files_push(struct files_list *l, const char *path)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 16;
		char **p = realloc(l->paths, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		l->paths = p;
		l->cap = cap;
	}
	copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	l->paths[l->n++] = copy;
	return 0;
}

static bool
files_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name);
	size_t s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

static bool
files_wanted(const char *name)
{
	return files_has_suffix(name, ".json") ||
	    files_has_suffix(name, ".json.gz");
}

static int
files_walk(const char *dir, unsigned depth, struct files_list *l)
{
	struct dirent **ents = NULL;
	int n;
	int i;
	int r = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return files_push(l, dir); /* reading it reports why */
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		struct stat st;
		char *path = NULL;

		if (r < 0 || name[0] == '.' ||
		    strcmp(name, "CloudTrail-Digest") == 0)
			continue;
		if (asprintf(&path, "%s/%s", dir, name) < 0) {
			r = -ENOMEM;
			continue;
		}
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			if (depth < FILES_MAX_DEPTH)
				r = files_walk(path, depth + 1, l);
		} else if (files_wanted(name)) {
			r = files_push(l, path);
		}
		free(path);
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return r;
}

int
files_expand(char *const *args, size_t n, struct files_list *ret)
{
	struct files_list l = {0};
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < n; i++) {
		struct stat st;

		if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
			r = files_walk(args[i], 0, &l);
		else
			r = files_push(&l, args[i]);
	}
	if (r < 0) {
		files_list_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}

void
files_list_done(struct files_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	memset(l, 0, sizeof(*l));
}

int
files_scan(const char *path, struct trail *t, trail_record_cb *cb, void *arg,
    struct diag *reterr)
{
	/* One reused buffer: replay reads files one at a time, on one thread.
	 */
	static char chunk[FILES_READ_CHUNK];
	ssize_t got;
	int fd;
	int r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return diag_set(reterr, -errno, path, 0, 0, "cannot open: %s",
		    strerror(errno));
	trail_reset(t);
	while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
		r = trail_feed(t, chunk, (size_t)got, cb, arg, reterr);
		if (r < 0)
			break;
	}
	if (got < 0 && r == 0)
		r = diag_set(reterr, -errno, path, 0, 0, "read failed: %s",
		    strerror(errno));
	if (r == 0)
		r = trail_finish(t, cb, arg, reterr);
	(void)close(fd);
	if (r < 0 && reterr != NULL && reterr->file[0] == '\0')
		(void)snprintf(reterr->file, sizeof(reterr->file), "%s", path);
	return r;
}
