/*
 * profile.c: see profile.h. Each file is read whole (it is small), split
 * into lines in place, and only the selected profile's keys are kept; every
 * line is still checked, so a typo in another profile is reported too (the
 * SDKs refuse such a file as well).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "profile.h"

struct profile_kv {
	char *key; /* lower-case */
	char *value;
	enum profile_file file;
	unsigned line;
};

struct profile {
	char *name;
	bool explicit_name;
	bool found;
	char *path[PROFILE_FILE_COUNT]; /* "" when none */
	struct profile_kv *kv;
	size_t n_kv;
	size_t cap_kv;
};

/* Where the parser is within a file. */
struct profile_parse {
	struct profile *p;
	enum profile_file f;
	const char *path;
	unsigned line;
	bool in_section;            /* a section header was seen */
	bool selected;              /* the current section is our profile */
	bool have_prop;             /* the section has a property already */
	struct profile_kv *last_kv; /* our last property, for continuations */
};

const char *
profile_file_str(enum profile_file f)
{
	switch (f) {
	case PROFILE_FILE_CONFIG:
		return "config";
	case PROFILE_FILE_CREDENTIALS:
		return "credentials";
	case PROFILE_FILE_COUNT:
		break;
	}
	return "?";
}

static void
profile_wipe_str(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
profile_free(struct profile *p)
{
	size_t i;
	int f;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_kv; i++) {
		free(p->kv[i].key);
		profile_wipe_str(p->kv[i].value);
	}
	free(p->kv);
	for (f = 0; f < PROFILE_FILE_COUNT; f++)
		free(p->path[f]);
	free(p->name);
	free(p);
}

static struct profile_kv *
profile_find(const struct profile *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->n_kv; i++)
		if (strcasecmp(p->kv[i].key, key) == 0)
			return &p->kv[i];
	return NULL;
}

const char *
profile_get(const struct profile *p, const char *key)
{
	const struct profile_kv *kv;

	if (p == NULL || key == NULL)
		return NULL;
	kv = profile_find(p, key);
	return kv != NULL ? kv->value : NULL;
}

const char *
profile_where(const struct profile *p, const char *key, unsigned *ret_line)
{
	const struct profile_kv *kv;

	if (p == NULL || key == NULL)
		return NULL;
	kv = profile_find(p, key);
	if (kv == NULL)
		return NULL;
	if (ret_line != NULL)
		*ret_line = kv->line;
	return p->path[kv->file];
}

const char *
profile_name(const struct profile *p)
{
	return p->name;
}

bool
profile_explicit(const struct profile *p)
{
	return p->explicit_name;
}

bool
profile_found(const struct profile *p)
{
	return p->found;
}

const char *
profile_path(const struct profile *p, enum profile_file f)
{
	if (f >= PROFILE_FILE_COUNT)
		return "";
	return p->path[f];
}

/* Sets key (taken, lower-cased already) to a copy of value. */
static int
profile_set(struct profile_parse *ps, char *key, const char *value)
{
	struct profile *p = ps->p;
	struct profile_kv *kv = profile_find(p, key);
	char *v = strdup(value);

	if (v == NULL) {
		free(key);
		return -ENOMEM;
	}
	if (kv != NULL) {
		free(key);
		profile_wipe_str(kv->value);
	} else {
		if (p->n_kv == p->cap_kv) {
			size_t cap = p->cap_kv != 0 ? p->cap_kv * 2 : 16;
			struct profile_kv *n =
			    reallocarray(p->kv, cap, sizeof(*n));

			if (n == NULL) {
				free(key);
				profile_wipe_str(v);
				return -ENOMEM;
			}
			p->kv = n;
			p->cap_kv = cap;
		}
		kv = &p->kv[p->n_kv++];
		kv->key = key;
	}
	kv->value = v;
	kv->file = ps->f;
	kv->line = ps->line;
	ps->last_kv = kv;
	return 0;
}

/* Appends '\n' and s to the last property's value. */
static int
profile_continue(struct profile_parse *ps, const char *s)
{
	struct profile_kv *kv = ps->last_kv;
	size_t a = strlen(kv->value);
	size_t b = strlen(s);
	char *v = malloc(a + b + 2);

	if (v == NULL)
		return -ENOMEM;
	memcpy(v, kv->value, a);
	v[a] = '\n';
	memcpy(v + a + 1, s, b + 1);
	profile_wipe_str(kv->value);
	kv->value = v;
	return 0;
}

static char *
profile_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static bool
profile_is_comment(const char *s)
{
	return *s == '#' || *s == ';';
}

/* "[ name ]" with an optional comment after it; s is trimmed. */
static int
profile_section(struct profile_parse *ps, char *s, struct diag *reterr)
{
	char *close = strchr(s, ']');
	char *rest;
	char *name;

	if (close == NULL)
		return diag_set(reterr, -EBADMSG, ps->path, ps->line, 0,
		    "section header without ']'");
	rest = profile_trim(close + 1);
	if (*rest != '\0' && !profile_is_comment(rest))
		return diag_set(reterr, -EBADMSG, ps->path, ps->line,
		    (unsigned)(rest - s) + 1, "unexpected text after ']'");
	*close = '\0';
	name = profile_trim(s + 1);
	if (*name == '\0')
		return diag_set(reterr, -EBADMSG, ps->path, ps->line, 0,
		    "empty section name");
	ps->in_section = true;
	ps->have_prop = false;
	ps->last_kv = NULL;
	if (ps->f == PROFILE_FILE_CONFIG && strcmp(name, "default") != 0) {
		/* "[profile name]"; any other section is not a profile. */
		if (strncmp(name, "profile", 7) != 0 ||
		    (name[7] != ' ' && name[7] != '\t')) {
			ps->selected = false;
			return 0;
		}
		name = profile_trim(name + 8);
	}
	ps->selected = strcmp(name, ps->p->name) == 0;
	if (ps->selected)
		ps->p->found = true;
	return 0;
}

/* "key = value [# comment]"; s is trimmed, line is the whole line. */
static int
profile_property(struct profile_parse *ps, const char *line, char *s,
    struct diag *reterr)
{
	char *eq = strchr(s, '=');
	char *key;
	char *value;
	char *k;
	char *c;

	if (!ps->in_section)
		return diag_set(reterr, -EBADMSG, ps->path, ps->line,
		    (unsigned)(s - line) + 1,
		    "property outside a section (expected '[name]' first)");
	if (eq == NULL)
		return diag_set(reterr, -EBADMSG, ps->path, ps->line,
		    (unsigned)(s - line) + 1, "expected 'key = value'");
	*eq = '\0';
	key = profile_trim(s);
	if (*key == '\0')
		return diag_set(reterr, -EBADMSG, ps->path, ps->line,
		    (unsigned)(s - line) + 1, "empty key before '='");
	value = profile_trim(eq + 1);
	/* An inline comment needs whitespace before it: "a#b" is a value. */
	for (c = value; *c != '\0'; c++) {
		if (profile_is_comment(c) && c > value &&
		    (c[-1] == ' ' || c[-1] == '\t')) {
			*c = '\0';
			value = profile_trim(value);
			break;
		}
	}
	ps->have_prop = true;
	if (!ps->selected) {
		ps->last_kv = NULL;
		return 0;
	}
	k = strdup(key);
	if (k == NULL)
		return -ENOMEM;
	for (c = k; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	return profile_set(ps, k, value);
}

/* Parses text (len bytes, writable, NUL-terminated) from file f. */
static int
profile_parse(struct profile *p, enum profile_file f, char *text, size_t len,
    struct diag *reterr)
{
	struct profile_parse ps;
	char *end = text + len;
	char *line;
	char *next;
	char *nul;
	int r;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.f = f;
	ps.path = p->path[f];
	nul = memchr(text, '\0', len);
	if (nul != NULL) {
		for (line = text; line < nul; line++)
			if (*line == '\n')
				ps.line++;
		return diag_set(reterr, -EBADMSG, ps.path, ps.line + 1, 0,
		    "NUL byte in file");
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		text += 3; /* UTF-8 byte order mark */
	for (line = text; line < end; line = next) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *e = nl != NULL ? nl : end;
		bool indented = *line == ' ' || *line == '\t';
		char *s;

		next = nl != NULL ? nl + 1 : end;
		ps.line++;
		if (e > line && e[-1] == '\r')
			e--;
		*e = '\0';
		s = profile_trim(line);
		if (*s == '\0' || profile_is_comment(s))
			continue;
		if (*s == '[') {
			r = profile_section(&ps, s, reterr);
		} else if (indented && ps.have_prop) {
			r = 0;
			if (ps.last_kv != NULL)
				r = profile_continue(&ps, s);
		} else {
			r = profile_property(&ps, line, s, reterr);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reads path whole into *ret (NUL-terminated); *ret NULL: no such file. */
static int
profile_read(const char *path, char **ret, size_t *ret_len, struct diag *reterr)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	size_t cap = 0;
	int fd;
	int r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT || r == -ENOTDIR) {
			*ret = NULL;
			*ret_len = 0;
			return 0;
		}
		return diag_set(reterr, r, path, 0, 0, "cannot open: %s",
		    strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)close(fd);
		return diag_set(reterr, r, path, 0, 0, "cannot stat: %s",
		    strerror(-r));
	}
	/* Devices are allowed: AWS_CONFIG_FILE=/dev/null is an idiom. */
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		(void)close(fd);
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		return diag_set(reterr, r, path, 0, 0, "not a regular file");
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			size_t ncap = cap != 0 ? cap * 2 : 8192;
			char *nd;

			if (len > PROFILE_MAX_FILE) {
				r = diag_set(reterr, -E2BIG, path, 0, 0,
				    "larger than %u bytes", PROFILE_MAX_FILE);
				goto fail;
			}
			nd = malloc(ncap);
			if (nd == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			if (data != NULL) {
				memcpy(nd, data, len);
				explicit_bzero(data, cap);
				free(data);
			}
			data = nd;
			cap = ncap;
		}
		n = read(fd, data + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			r = diag_set(reterr, r, path, 0, 0, "cannot read: %s",
			    strerror(-r));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > PROFILE_MAX_FILE) {
		r = diag_set(reterr, -E2BIG, path, 0, 0, "larger than %u bytes",
		    PROFILE_MAX_FILE);
		goto fail;
	}
	(void)close(fd);
	if (data == NULL) {
		data = calloc(1, 1);
		if (data == NULL)
			return -ENOMEM;
	}
	data[len] = '\0';
	*ret = data;
	*ret_len = len;
	return 0;
fail:
	(void)close(fd);
	if (data != NULL) {
		explicit_bzero(data, cap);
		free(data);
	}
	return r;
}

/* $var with "~/" expanded, else $HOME/def; "" when there is no $HOME. */
static char *
profile_file_path(const char *var, const char *def)
{
	const char *v = getenv(var);
	const char *home = getenv("HOME");
	const char *rest;
	size_t a;
	size_t b;
	char *s;

	if (v != NULL && *v != '\0' && strncmp(v, "~/", 2) != 0)
		return strdup(v);
	rest = v != NULL && *v != '\0' ? v + 2 : def;
	if (home == NULL || *home == '\0')
		return strdup("");
	a = strlen(home);
	b = strlen(rest);
	s = malloc(a + b + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, home, a);
	s[a] = '/';
	memcpy(s + a + 1, rest, b + 1);
	return s;
}

static int
profile_load_file(struct profile *p, enum profile_file f, struct diag *reterr)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	if (p->path[f][0] == '\0')
		return 0;
	r = profile_read(p->path[f], &text, &len, reterr);
	if (r < 0 || text == NULL)
		return r;
	r = profile_parse(p, f, text, len, reterr);
	explicit_bzero(text, len);
	free(text);
	return r;
}

int
profile_load(const char *name, struct profile **ret, struct diag *reterr)
{
	struct profile *p;
	const char *env = getenv("AWS_PROFILE");
	int r;

	if (ret == NULL)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->explicit_name = true;
	if (name == NULL || *name == '\0')
		name = env;
	if (name == NULL || *name == '\0') {
		name = "default";
		p->explicit_name = false;
	}
	p->name = strdup(name);
	p->path[PROFILE_FILE_CONFIG] =
	    profile_file_path("AWS_CONFIG_FILE", ".aws/config");
	p->path[PROFILE_FILE_CREDENTIALS] = profile_file_path(
	    "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	if (p->name == NULL || p->path[PROFILE_FILE_CONFIG] == NULL ||
	    p->path[PROFILE_FILE_CREDENTIALS] == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	/* Config first: the credentials file's keys then override it. */
	r = profile_load_file(p, PROFILE_FILE_CONFIG, reterr);
	if (r < 0)
		goto fail;
	r = profile_load_file(p, PROFILE_FILE_CREDENTIALS, reterr);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	profile_free(p);
	return r;
}
