/* SPDX-License-Identifier: Apache-2.0 */
#include "common/schema.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- strict scalar parsers ------------------------------------------------ */

int schema_parse_int(const char *s, int64_t *out)
{
	const char *p = s;
	char *end;
	long long v;

	if (!s)
		return -EINVAL;
	if (*p == '-')
		p++;
	/* strtoll would skip blanks and take '+'; a config value is exactly
	 * a number or it is wrong. */
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int schema_parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull accepts "-1" and wraps it: demand a digit first. */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct {
	const char *unit;
	uint64_t usec;
} duration_units[] = {
	{ "us", 1 },           { "ms", USEC_PER_MSEC }, { "s", USEC_PER_SEC },
	{ "m", USEC_PER_MIN }, { "min", USEC_PER_MIN }, { "h", USEC_PER_HOUR },
	{ "d", USEC_PER_DAY },
};

int schema_parse_duration(const char *s, uint64_t *usec)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*usec = 0;
		return 0;
	}
	while (*p) {
		uint64_t v = 0, mult = 0;
		const char *u;
		size_t ulen;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			unsigned d = (unsigned)(*p - '0');
			if (v > (UINT64_MAX - d) / 10)
				return -ERANGE;
			v = v * 10 + d;
		}
		for (u = p; isalpha((unsigned char)*p); p++)
			;
		ulen = (size_t)(p - u);
		for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
			if (strlen(duration_units[i].unit) == ulen &&
			    memcmp(u, duration_units[i].unit, ulen) == 0)
				mult = duration_units[i].usec;
		if (mult == 0)
			return -EINVAL; /* a unit is required: "10" could mean s or ms */
		if (v > UINT64_MAX / mult || total > UINT64_MAX - v * mult)
			return -ERANGE;
		total += v * mult;
	}
	*usec = total;
	return 0;
}

int schema_format_duration(uint64_t usec, char *buf, size_t size)
{
	static const struct {
		const char *unit;
		uint64_t usec;
	} parts[] = {
		{ "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },  { "m", USEC_PER_MIN },
		{ "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
	};
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (usec == 0)
		return snprintf(buf, size, "0");
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && usec > 0; i++) {
		uint64_t n = usec / parts[i].usec;
		if (n == 0)
			continue;
		usec -= n * parts[i].usec;
		int w = snprintf(buf + len, len < size ? size - len : 0, "%" PRIu64 "%s", n, parts[i].unit);
		if (w < 0)
			return w;
		len += (size_t)w;
	}
	return (int)len;
}

int schema_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- suggestions ---------------------------------------------------------- */

unsigned schema_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned *rows, *prev2, *prev, *cur, d;

	/* Keys and words are short; cap the work for absurd inputs. */
	if (la > 256 || lb > 256)
		return UINT32_MAX;
	rows = malloc(3 * (lb + 1) * sizeof(*rows));
	if (!rows)
		return UINT32_MAX;
	prev2 = rows;
	prev = rows + lb + 1;
	cur = rows + 2 * (lb + 1);
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			unsigned cost = ca != cb;
			unsigned v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
		unsigned *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	d = prev[lb];
	free(rows);
	return d;
}

static bool is_prefix_ci(const char *p, const char *s)
{
	size_t n = strlen(p);
	return n >= 3 && strlen(s) > n && strncasecmp(p, s, n) == 0;
}

const char *schema_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	unsigned best_d = UINT32_MAX;

	if (!word || !*word)
		return NULL;
	for (size_t i = 0; candidates[i]; i++) {
		const char *c = candidates[i];
		size_t l = strlen(c);
		unsigned d = schema_edit_distance(word, c);
		/* Close enough to be a typo: about one edit per three
		 * characters; or an abbreviation / over-long form ("warn",
		 * "error" for "err"). */
		unsigned limit = l / 3 > 1 ? (unsigned)(l / 3) : 1;
		if (d > limit && !is_prefix_ci(word, c) && !is_prefix_ci(c, word))
			continue;
		if (d < best_d) {
			best = c;
			best_d = d;
		}
	}
	return best;
}

/* ---- context -------------------------------------------------------------- */

static void path_append(struct schema_ctx *ctx, const char *s)
{
	size_t n = strlen(s);

	if (ctx->path_len + n >= sizeof(ctx->path)) {
		/* Deep or long paths are cut with a marker rather than lost. */
		n = sizeof(ctx->path) - 1 - ctx->path_len;
	}
	memcpy(ctx->path + ctx->path_len, s, n);
	ctx->path_len += n;
	ctx->path[ctx->path_len] = '\0';
}

size_t schema_path_push_key(struct schema_ctx *ctx, const char *key)
{
	size_t old = ctx->path_len;
	if (ctx->path_len > 0)
		path_append(ctx, ".");
	path_append(ctx, key);
	return old;
}

size_t schema_path_push_index(struct schema_ctx *ctx, size_t index)
{
	char b[32];
	size_t old = ctx->path_len;

	snprintf(b, sizeof(b), "[%zu]", index);
	path_append(ctx, b);
	return old;
}

void schema_path_pop(struct schema_ctx *ctx, size_t len)
{
	ctx->path_len = len;
	ctx->path[len] = '\0';
}

const char *schema_where(const struct schema_ctx *ctx, char *buf, size_t size)
{
	if (ctx->path_len == 0)
		snprintf(buf, size, "the top level");
	else
		snprintf(buf, size, "'%s'", ctx->path);
	return buf;
}

static void vreport(struct schema_ctx *ctx, enum diag_severity sev, const struct ynode *node, const char *fmt,
		    va_list ap) __attribute__((format(printf, 4, 0)));

static void vreport(struct schema_ctx *ctx, enum diag_severity sev, const struct ynode *node, const char *fmt,
		    va_list ap)
{
	if (sev == DIAG_ERROR)
		ctx->errors++;
	diag_reportv(ctx->diag, sev, node ? node->file : NULL, node ? node->line : 0, node ? node->col : 0,
		     fmt, ap);
}

void schema_error(struct schema_ctx *ctx, const struct ynode *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, DIAG_ERROR, node, fmt, ap);
	va_end(ap);
}

void schema_warning(struct schema_ctx *ctx, const struct ynode *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ctx, DIAG_WARNING, node, fmt, ap);
	va_end(ap);
}

/* ---- the engine ------------------------------------------------------------ */

static size_t key_count(const struct schema_section *sec)
{
	size_t n = 0;
	while (sec->keys && sec->keys[n].name)
		n++;
	return n;
}

static size_t target_size(const struct schema_key *k)
{
	switch (k->kind) {
	case SCHEMA_STRING:
		return sizeof(const char *);
	case SCHEMA_INT:
		return sizeof(int64_t);
	case SCHEMA_UINT:
	case SCHEMA_DURATION:
		return sizeof(uint64_t);
	case SCHEMA_BOOL:
		return sizeof(bool);
	case SCHEMA_ENUM:
		return sizeof(int);
	case SCHEMA_SECTION:
		return k->section->size;
	case SCHEMA_LIST:
		return sizeof(struct schema_list);
	case SCHEMA_NODE:
		return sizeof(const struct ynode *);
	case SCHEMA_CUSTOM:
		return k->size;
	}
	return 0;
}

static void set_default(const struct schema_key *k, void *t)
{
	switch (k->kind) {
	case SCHEMA_STRING:
		*(const char **)t = k->def_str;
		break;
	case SCHEMA_INT:
		*(int64_t *)t = k->def_int;
		break;
	case SCHEMA_UINT:
	case SCHEMA_DURATION:
		*(uint64_t *)t = k->def_uint;
		break;
	case SCHEMA_BOOL:
		*(bool *)t = k->def_bool;
		break;
	case SCHEMA_ENUM:
		*(int *)t = (int)k->def_int;
		break;
	case SCHEMA_SECTION:
		schema_defaults(k->section, t);
		break;
	case SCHEMA_NODE:
		*(const struct ynode **)t = NULL;
		break;
	case SCHEMA_LIST:
	case SCHEMA_CUSTOM:
		break; /* zeroed by the caller */
	}
}

void schema_defaults(const struct schema_section *sec, void *obj)
{
	for (const struct schema_key *k = sec->keys; k && k->name; k++)
		set_default(k, (char *)obj + k->offset);
}

static void free_value(const struct schema_key *k, void *t)
{
	switch (k->kind) {
	case SCHEMA_SECTION:
		schema_free(k->section, t);
		break;
	case SCHEMA_LIST: {
		struct schema_list *l = t;
		size_t es = target_size(k->elem);
		for (size_t i = 0; l->items && i < l->n; i++)
			free_value(k->elem, (char *)l->items + i * es);
		free(l->items);
		l->items = NULL;
		l->n = 0;
		break;
	}
	case SCHEMA_CUSTOM:
		if (k->free)
			k->free(t);
		break;
	default:
		break;
	}
}

void schema_free(const struct schema_section *sec, void *obj)
{
	if (!sec || !obj)
		return;
	for (const struct schema_key *k = sec->keys; k && k->name; k++)
		free_value(k, (char *)obj + k->offset);
}

/* "a, b, c" of the non-alias names. */
static char *join_words(const char *const *v)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; v[i]; i++)
		len += strlen(v[i]) + 2;
	s = p = malloc(len);
	if (!s)
		return NULL;
	*p = '\0';
	for (size_t i = 0; v[i]; i++)
		p += sprintf(p, "%s%s", i ? ", " : "", v[i]);
	return s;
}

/* Text of a scalar for number/word parsers: NULL (reported) when it holds a
 * NUL byte, which would make it read as something shorter. */
static const char *scalar_text(struct schema_ctx *ctx, const struct ynode *n)
{
	char w[600];

	if (strlen(n->scalar.str) != n->scalar.len) {
		schema_error(ctx, n, "value for %s contains a NUL byte", schema_where(ctx, w, sizeof(w)));
		return NULL;
	}
	return n->scalar.str;
}

static bool want_scalar(struct schema_ctx *ctx, const struct ynode *n, const char *what)
{
	char w[600];

	if (n->kind == YNODE_SCALAR)
		return true;
	schema_error(ctx, n, "%s must be %s, got %s", schema_where(ctx, w, sizeof(w)), what,
		     ynode_describe(n));
	return false;
}

static int parse_enum(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, int *out)
{
	const char *listed[SCHEMA_MAX_KEYS + 1], *all[SCHEMA_MAX_KEYS + 1];
	size_t nl = 0, na = 0;
	const char *s, *hint;
	char *list, w[600];

	if (!want_scalar(ctx, n, "one of a set of words"))
		return -EINVAL;
	s = scalar_text(ctx, n);
	if (!s)
		return -EINVAL;
	for (const struct schema_enum_word *e = k->words; e && e->word; e++) {
		if (strcmp(s, e->word) == 0) {
			*out = e->value;
			return 0;
		}
		if (na < SCHEMA_MAX_KEYS)
			all[na++] = e->word;
		if (!e->alias && nl < SCHEMA_MAX_KEYS)
			listed[nl++] = e->word;
	}
	listed[nl] = NULL;
	all[na] = NULL;
	hint = schema_suggest(s, all);
	list = join_words(listed);
	if (hint)
		schema_error(ctx, n, "invalid value '%s' for %s, did you mean '%s'? (expected one of: %s)", s,
			     schema_where(ctx, w, sizeof(w)), hint, list ? list : "?");
	else
		schema_error(ctx, n, "invalid value '%s' for %s (expected one of: %s)", s,
			     schema_where(ctx, w, sizeof(w)), list ? list : "?");
	free(list);
	return -EINVAL;
}

static int parse_list(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n,
		      struct schema_list *out)
{
	size_t es = target_size(k->elem), count;
	unsigned before = ctx->errors;
	char w[600];
	int r = 0;

	if (ynode_is_null(n)) {
		count = 0;
	} else if (n->kind != YNODE_SEQ) {
		schema_error(ctx, n, "%s must be a sequence, got %s", schema_where(ctx, w, sizeof(w)),
			     ynode_describe(n));
		return -EINVAL;
	} else {
		count = n->seq.n;
	}
	if (count < k->min_items) {
		schema_error(ctx, n, "%s needs at least %zu %s, got %zu", schema_where(ctx, w, sizeof(w)),
			     k->min_items, k->min_items == 1 ? "entry" : "entries", count);
		return -EINVAL;
	}
	if (k->max_items && count > k->max_items) {
		schema_error(ctx, n, "%s has %zu entries, at most %zu are allowed",
			     schema_where(ctx, w, sizeof(w)), count, k->max_items);
		return -EINVAL;
	}
	if (count == 0)
		return 0;
	out->items = calloc(count, es ? es : 1);
	if (!out->items)
		return -ENOMEM;
	out->n = count;
	for (size_t i = 0; i < count; i++) {
		void *t = (char *)out->items + i * es;
		size_t saved = schema_path_push_index(ctx, i);
		set_default(k->elem, t);
		r = schema_parse_value(ctx, k->elem, &n->seq.items[i], t);
		schema_path_pop(ctx, saved);
		if (r == -ENOMEM)
			return r;
	}
	return ctx->errors > before ? -EINVAL : 0;
}

int schema_parse_value(struct schema_ctx *ctx, const struct schema_key *k, const struct ynode *n, void *t)
{
	char w[600], b1[64], b2[64];
	const char *s;
	int r;

	if (k->kind == SCHEMA_CUSTOM)
		return k->parse ? k->parse(ctx, k, n, t) : 0;
	if (k->kind == SCHEMA_SECTION)
		return schema_parse_section(ctx, k->section, n, t);
	if (k->kind == SCHEMA_LIST) {
		r = parse_list(ctx, k, n, t);
		goto check;
	}
	if (k->kind == SCHEMA_NODE) {
		if (ynode_is_null(n))
			return 0; /* same as absent */
		if (k->node_kind >= 0 && n->kind != k->node_kind) {
			const char *want = k->node_kind == YNODE_MAP   ? "a mapping"
					   : k->node_kind == YNODE_SEQ ? "a sequence"
								       : "a scalar";
			schema_error(ctx, n, "%s must be %s, got %s", schema_where(ctx, w, sizeof(w)), want,
				     ynode_describe(n));
			return -EINVAL;
		}
		*(const struct ynode **)t = n;
		r = 0;
		goto check;
	}

	/* Scalar kinds: a null keeps the default unless the key is required. */
	if (ynode_is_null(n)) {
		if (k->required) {
			schema_error(ctx, n, "%s must not be empty", schema_where(ctx, w, sizeof(w)));
			return -EINVAL;
		}
		return 0;
	}

	switch (k->kind) {
	case SCHEMA_STRING:
		if (!want_scalar(ctx, n, "a string"))
			return -EINVAL;
		if (strlen(n->scalar.str) != n->scalar.len) {
			schema_error(ctx, n, "%s must not contain NUL bytes",
				     schema_where(ctx, w, sizeof(w)));
			return -EINVAL;
		}
		if (k->max_len && n->scalar.len > k->max_len) {
			schema_error(ctx, n, "%s is longer than %zu bytes", schema_where(ctx, w, sizeof(w)),
				     k->max_len);
			return -EINVAL;
		}
		*(const char **)t = n->scalar.str;
		r = 0;
		break;
	case SCHEMA_INT: {
		int64_t v;
		if (!want_scalar(ctx, n, "an integer") || !(s = scalar_text(ctx, n)))
			return -EINVAL;
		r = schema_parse_int(s, &v);
		if (r < 0 || ((k->min || k->max) && (v < k->min || v > k->max))) {
			if (r == -EINVAL)
				schema_error(ctx, n, "invalid integer '%s' for %s", s,
					     schema_where(ctx, w, sizeof(w)));
			else
				schema_error(ctx, n,
					     "value %s for %s is out of range (%" PRId64 "..%" PRId64 ")", s,
					     schema_where(ctx, w, sizeof(w)),
					     (k->min || k->max) ? k->min : INT64_MIN,
					     (k->min || k->max) ? k->max : INT64_MAX);
			return -EINVAL;
		}
		*(int64_t *)t = v;
		break;
	}
	case SCHEMA_UINT: {
		uint64_t v, max = k->umax ? k->umax : UINT64_MAX;
		if (!want_scalar(ctx, n, "an unsigned integer") || !(s = scalar_text(ctx, n)))
			return -EINVAL;
		r = schema_parse_uint(s, &v);
		if (r < 0 || v < k->umin || v > max) {
			if (r == -EINVAL)
				schema_error(ctx, n, "invalid unsigned integer '%s' for %s", s,
					     schema_where(ctx, w, sizeof(w)));
			else
				schema_error(ctx, n,
					     "value %s for %s is out of range (%" PRIu64 "..%" PRIu64 ")", s,
					     schema_where(ctx, w, sizeof(w)), k->umin, max);
			return -EINVAL;
		}
		*(uint64_t *)t = v;
		break;
	}
	case SCHEMA_BOOL: {
		bool v;
		if (!want_scalar(ctx, n, "a boolean") || !(s = scalar_text(ctx, n)))
			return -EINVAL;
		if (schema_parse_bool(s, &v) < 0) {
			schema_error(ctx, n, "invalid boolean '%s' for %s (expected true or false)", s,
				     schema_where(ctx, w, sizeof(w)));
			return -EINVAL;
		}
		*(bool *)t = v;
		r = 0;
		break;
	}
	case SCHEMA_DURATION: {
		uint64_t v, max = k->umax ? k->umax : UINT64_MAX;
		if (!want_scalar(ctx, n, "a duration") || !(s = scalar_text(ctx, n)))
			return -EINVAL;
		r = schema_parse_duration(s, &v);
		if (r == -EINVAL) {
			schema_error(ctx, n,
				     "invalid duration '%s' for %s (expected a number with a unit: us, ms, "
				     "s, m, h "
				     "or d, such as 10s, 500ms or 2m)",
				     s, schema_where(ctx, w, sizeof(w)));
			return r;
		}
		if (r < 0 || v < k->umin || v > max) {
			schema_format_duration(k->umin, b1, sizeof(b1));
			schema_format_duration(max, b2, sizeof(b2));
			schema_error(ctx, n, "duration '%s' for %s is out of range (%s..%s)", s,
				     schema_where(ctx, w, sizeof(w)), b1, b2);
			return -EINVAL;
		}
		if (k->step && v % k->step != 0) {
			schema_format_duration(k->step, b1, sizeof(b1));
			schema_error(ctx, n, "duration '%s' for %s must be a whole multiple of %s", s,
				     schema_where(ctx, w, sizeof(w)), b1);
			return -EINVAL;
		}
		*(uint64_t *)t = v;
		break;
	}
	case SCHEMA_ENUM:
		r = parse_enum(ctx, k, n, t);
		if (r < 0)
			return r;
		break;
	default:
		return -EINVAL;
	}

check:
	if (r == 0 && k->parse)
		r = k->parse(ctx, k, n, t);
	return r;
}

enum {
	KEY_SEEN = 1u << 0,
	KEY_FAILED = 1u << 1,
	KEY_SUGGESTED = 1u << 2, /* named by a "did you mean" */
};

bool schema_key_ok(const struct schema_ctx *ctx, const char *key)
{
	const struct schema_section *sec = ctx->check_sec_;

	if (!sec)
		return false;
	for (size_t i = 0; sec->keys[i].name; i++) {
		if (strcmp(sec->keys[i].name, key) != 0)
			continue;
		if (ctx->check_state_[i] & KEY_FAILED)
			return false;
		return (ctx->check_state_[i] & KEY_SEEN) || !sec->keys[i].required;
	}
	return false;
}

int schema_parse_section(struct schema_ctx *ctx, const struct schema_section *sec, const struct ynode *n,
			 void *obj)
{
	unsigned char seen[SCHEMA_MAX_KEYS] = { 0 };
	const char *names[SCHEMA_MAX_KEYS + 1];
	size_t nkeys = key_count(sec);
	unsigned before = ctx->errors;
	char w[600];
	int r;

	if (nkeys > SCHEMA_MAX_KEYS)
		return -E2BIG; /* a programming error in a table */
	for (size_t i = 0; i < nkeys; i++)
		names[i] = sec->keys[i].name;
	names[nkeys] = NULL;

	schema_defaults(sec, obj);
	if (n && !ynode_is_null(n) && n->kind != YNODE_MAP) {
		schema_error(ctx, n, "%s must be a mapping, got %s", schema_where(ctx, w, sizeof(w)),
			     ynode_describe(n));
		return -EINVAL;
	}

	for (size_t i = 0; n && n->kind == YNODE_MAP && i < n->map.n; i++) {
		const struct ynode *kn = ynode_map_key(n, i), *vn = ynode_map_value(n, i);
		const char *name = kn->kind == YNODE_SCALAR ? kn->scalar.str : NULL;
		size_t ki;

		if (!name)
			continue; /* yamldoc already reported non-scalar keys */
		for (ki = 0; ki < nkeys; ki++)
			if (strcmp(name, names[ki]) == 0 && strlen(name) == kn->scalar.len)
				break;
		if (ki == nkeys) {
			const char *hint = schema_suggest(name, names);
			char *list = join_words(names);
			for (size_t j = 0; hint && j < nkeys; j++)
				if (names[j] == hint)
					seen[j] |= KEY_SUGGESTED;
			if (hint)
				schema_error(ctx, kn,
					     "unknown key '%s' %s%s, did you mean '%s'? (accepted keys: %s)",
					     name, ctx->path_len ? "in " : "at ",
					     schema_where(ctx, w, sizeof(w)), hint, list ? list : "?");
			else
				schema_error(ctx, kn, "unknown key '%s' %s%s (accepted keys: %s)", name,
					     ctx->path_len ? "in " : "at ", schema_where(ctx, w, sizeof(w)),
					     list ? list : "none");
			free(list);
			continue;
		}
		unsigned key_before = ctx->errors;
		seen[ki] |= KEY_SEEN;
		if (sec->keys[ki].secret)
			schema_secret(ctx, vn, name, (enum schema_secret)sec->keys[ki].secret);
		size_t saved = schema_path_push_key(ctx, name);
		r = schema_parse_value(ctx, &sec->keys[ki], vn, (char *)obj + sec->keys[ki].offset);
		schema_path_pop(ctx, saved);
		if (r == -ENOMEM)
			return r;
		if (r < 0 || ctx->errors > key_before)
			seen[ki] |= KEY_FAILED;
	}

	for (size_t ki = 0; ki < nkeys; ki++) {
		if (!sec->keys[ki].required || (seen[ki] & KEY_SEEN))
			continue;
		/* A "did you mean" for this key already told the user. */
		if (!(seen[ki] & KEY_SUGGESTED))
			schema_error(ctx, n, "missing required key '%s' %s%s", names[ki],
				     ctx->path_len ? "in " : "at ", schema_where(ctx, w, sizeof(w)));
	}

	if (sec->check) {
		const struct schema_section *osec = ctx->check_sec_;
		const unsigned char *ostate = ctx->check_state_;
		ctx->check_sec_ = sec;
		ctx->check_state_ = seen;
		r = sec->check(ctx, n, obj);
		ctx->check_sec_ = osec;
		ctx->check_state_ = ostate;
		if (r == -ENOMEM)
			return r;
	}
	return ctx->errors > before ? -EINVAL : 0;
}

void schema_secret(struct schema_ctx *ctx, const struct ynode *value, const char *key,
		   enum schema_secret kind)
{
	char where[sizeof(ctx->path) + 64];

	/* Told whether it parses or not: a malformed key is still a key. */
	if (!ctx || !ctx->on_secret || !value || value->kind != YNODE_SCALAR || ynode_is_null(value))
		return;
	snprintf(where, sizeof(where), "%s%s%s", ctx->path, ctx->path_len ? "." : "", key);
	ctx->on_secret(ctx->secret_ud, value, where, kind);
}

int schema_parse(const struct schema_section *sec, const struct ynode *node, void *obj, struct diag *diag,
		 void *userdata)
{
	return schema_parse_secrets(sec, node, obj, diag, userdata, NULL, NULL);
}

int schema_parse_secrets(const struct schema_section *sec, const struct ynode *node, void *obj,
			 struct diag *diag, void *userdata, schema_secret_fn on_secret, void *secret_ud)
{
	struct schema_ctx ctx = {
		.diag = diag, .userdata = userdata, .on_secret = on_secret, .secret_ud = secret_ud
	};
	int r;

	r = schema_parse_section(&ctx, sec, node, obj);
	if (r == -ENOMEM)
		return r;
	return ctx.errors > 0 ? -EINVAL : 0;
}
