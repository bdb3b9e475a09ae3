/*
 * yamlx.h: the YAML plumbing shared by the loaders (rules.c, cfg.c).
 *
 * yamlx_load() turns libyaml's events into a small tree of our own, which
 * is where hostile YAML is stopped: aliases and tags are refused (nothing
 * is ever expanded), nesting and the node count are capped, more than one
 * document is refused, and a syntax error ends the pass with libyaml's own
 * words at its position. The helpers below then check the tree: node types,
 * duplicate and unknown keys (with "did you mean"), strings, booleans,
 * durations and lists of names.
 *
 * Every problem is added to y->diags as "name:line:col: message" (1-based,
 * the node's position) and counted in y->errors (warnings too under
 * y->strict), so a loader goes on and reports them all, then installs
 * nothing if y->errors != 0 (count-then-discard). Allocation failure sets
 * y->oom instead of a message. The bool helpers return false when they
 * reported something (or for a YAMLX_NODE_BAD, already reported). Never
 * prints. Messages quote the file only through yamlx_q() (control bytes
 * escaped, cut at 64 bytes); the helpers never quote a value they were
 * asked to read as a string, so a loader can use them on secrets.
 */
#ifndef SMTRAIL_YAMLX_H
#define SMTRAIL_YAMLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct diag_list;
struct json_object;

/* One file being loaded. */
struct yamlx {
	const char *name; /* for diagnostics */
	const char *text;
	size_t len;
	bool strict; /* warnings are errors */
	struct diag_list *diags;
	unsigned errors;
	bool oom;
	size_t nodes;
};

enum yamlx_node_type {
	YAMLX_NODE_SCALAR,
	YAMLX_NODE_SEQ,
	YAMLX_NODE_MAP,
	YAMLX_NODE_BAD /* stands in for a refused alias; already reported */
};

/* The YAML tree. Lines and columns are 1-based. */
struct yamlx_node {
	enum yamlx_node_type type;
	bool plain; /* a plain scalar, typed by its text; quoted: a string */
	unsigned line;
	unsigned col;
	char *s; /* scalar text, NUL-terminated (may hold NULs: see len) */
	size_t len;
	struct yamlx_node **kid; /* seq: items; map: key, value, key, ... */
	size_t n;
	size_t cap;
};

/* A plain scalar's type (YAML 1.2 core schema, decimal numbers only). */
enum yamlx_scalar {
	YAMLX_SCALAR_NULL,
	YAMLX_SCALAR_BOOL,
	YAMLX_SCALAR_INT,
	YAMLX_SCALAR_FLOAT,
	YAMLX_SCALAR_STRING
};

/* Big enough for any yamlx_q() result. */
#define YAMLX_Q_SIZE 300
#define YAMLX_QN(buf, n) yamlx_q((buf), sizeof(buf), (n)->s, (n)->len)

/*
 * Reads path into *ret (malloc'd, not NUL-terminated; the caller frees),
 * at most max + 1 bytes whatever the file's size says, so that
 * yamlx_init() can refuse a file over max. Errors (-ENOENT, -EACCES,
 * -EISDIR, -ENOMEM, ...) are added to diags as "path: strerror".
 */
int yamlx_read_file(const char *path, size_t max, char **ret, size_t *ret_len,
    struct diag_list *diags) MUST_CHECK;

/*
 * Sets y up for text (len bytes; NULL is ""); borrowed until the tree is
 * freed. -EINVAL with "name: file larger than max bytes" added to diags.
 */
int yamlx_init(struct yamlx *y, const char *name, const char *text, size_t len,
    size_t max, struct diag_list *diags) MUST_CHECK;

/*
 * Builds the tree. NULL with errors reported (or y->oom), or NULL with no
 * error for a stream with no document (empty, or only comments). A tree
 * may come back with errors too (refused aliases and tags): check it all.
 */
struct yamlx_node *yamlx_load(struct yamlx *y);
void yamlx_node_free(struct yamlx_node *n); /* NULL ok */

/* A loader's top level, handed a mapping. */
typedef void yamlx_top_cb(const struct yamlx_node *root, void *arg);
/*
 * Loads the tree (not after y->oom) and hands its root to top, then frees
 * it; a whole tree is checked even if it came with errors (refused
 * aliases or tags). No document: "empty <kind> file (expected <expect>)";
 * a root that is not a mapping: "expected <expect> at the top level".
 */
void yamlx_load_map(struct yamlx *y, const char *kind, const char *expect,
    yamlx_top_cb *top, void *arg);
/* The load's outcome, last: 0; -ENOMEM after adding "name: out of memory"
 * to y->diags (y->oom); -EINVAL when errors were reported. */
int yamlx_verdict(struct yamlx *y);

void yamlx_err_at(struct yamlx *y, unsigned line, unsigned col, const char *fmt,
    ...) PRINTF_LIKE(4, 5);
void yamlx_err(struct yamlx *y, const struct yamlx_node *n, const char *fmt,
    ...) PRINTF_LIKE(3, 4);
/* A warning, or an error under y->strict. */
void yamlx_warn(struct yamlx *y, const struct yamlx_node *n, const char *fmt,
    ...) PRINTF_LIKE(3, 4);
/* The same at line:col (0: none, for the file as a whole). */
void yamlx_warn_at(struct yamlx *y, unsigned line, unsigned col,
    const char *fmt, ...) PRINTF_LIKE(4, 5);
/* A warning even under y->strict: about what the loader could not look
 * at, not about the file. */
void yamlx_note(struct yamlx *y, const struct yamlx_node *n, const char *fmt,
    ...) PRINTF_LIKE(3, 4);

/* s (len bytes) for a message, escaped and cut (see above). Returns buf. */
const char *yamlx_q(char *buf, size_t size, const char *s, size_t len);

/*
 * The closest of names (n entries, NULL ones skipped) to s, or NULL. For
 * keys (loose == false): within two edits and fewer edits than s has
 * letters. For longer names (loose): within three edits and a third of
 * the candidate's length. Case is ignored; a swap of neighbours is one.
 */
const char *yamlx_suggest(const struct yamlx *y, const char *s,
    const char *const *names, size_t n, bool loose);
/* " (did you mean 'x'?)" for a suggestion, "" for NULL. Returns buf. */
const char *yamlx_hint(char *buf, size_t size, const char *suggestion);
size_t yamlx_nlist(const char *const *names); /* NULL-terminated */
bool yamlx_in_list(const char *s, const char *const *names);

/*
 * A mapping key: its index in names (n entries), or n after reporting
 * "unknown <what> key 'k' (did you mean 'x'?)", or "expected a <what> key"
 * for a key that is not a scalar.
 */
size_t yamlx_key(struct yamlx *y, const struct yamlx_node *k,
    const char *const *names, size_t n, const char *what);
/* Reports every key of map seen before ("duplicate key 'k' (first at line
 * N)"). Callers then use the first. */
void yamlx_map_dups(struct yamlx *y, const struct yamlx_node *map);
/* The value of each of names (n entries) in map, into vals[n] (NULL: not
 * there; a duplicate's first); unknown and duplicate keys reported. */
void yamlx_keys(struct yamlx *y, const struct yamlx_node *map, const char *what,
    const char *const *names, size_t n, const struct yamlx_node **vals);

/* "expected a mapping for 'what'" / "expected a list for 'what'". */
bool yamlx_map(struct yamlx *y, const struct yamlx_node *n, const char *what);
bool yamlx_seq(struct yamlx *y, const struct yamlx_node *n, const char *what);

enum yamlx_scalar yamlx_scalar_type(const struct yamlx_node *n, bool *ret_b,
    int64_t *ret_i, double *ret_d);
bool yamlx_is_null(const struct yamlx_node *n);
/* A decimal number's value (s NUL-terminated after len bytes). */
bool yamlx_parse_number(const char *s, size_t len, double *ret);

/*
 * A string: any scalar but null, taken as written ("1234" too). NULL
 * after "expected a string for 'what'". Borrowed from the tree; it may
 * hold NULs (compare n->len with strlen()).
 */
const char *yamlx_str(struct yamlx *y, const struct yamlx_node *n,
    const char *what);
/* "expected true or false for 'what'" otherwise. */
bool yamlx_bool(struct yamlx *y, const struct yamlx_node *n, const char *what,
    bool *ret);
/*
 * Seconds, or digits and one of s, m, h, d ("30s", "5m", "2h", "7d"), at
 * most 365 days; in microseconds.
 */
bool yamlx_duration(struct yamlx *y, const struct yamlx_node *n,
    const char *what, uint64_t *ret_us);
/* A list of non-empty strings, or one string; *ret is the caller's. */
bool yamlx_str_list(struct yamlx *y, const struct yamlx_node *n,
    const char *what, char ***ret, size_t *ret_n);
/* The items of a list, or n itself as a list of one (borrowed); how many. */
size_t yamlx_items(const struct yamlx_node *const *n,
    const struct yamlx_node *const **ret);
/*
 * A name: 1 to max letters, digits, '.', '_' and '-' (n a scalar); false
 * after "bad <what> 'x' (use letters, digits, '.', '_' and '-', at most
 * <max>)".
 */
bool yamlx_name(struct yamlx *y, const struct yamlx_node *n, const char *what,
    size_t max);

/* A copy (NUL-terminated); NULL with y->oom set. */
char *yamlx_strdup(struct yamlx *y, const char *s, size_t len);
/* Records key -> line in a json-c object used as a dictionary. */
bool yamlx_dict_add(struct yamlx *y, struct json_object *dict, const char *key,
    unsigned line);

#endif
