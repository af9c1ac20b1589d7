/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Value templates: the forms of Home Assistant's `value_template` (Jinja2)
 * that MQTT discovery configurations actually use, evaluated exactly as
 * Jinja2 under Python would print them, and nothing more:
 *
 *   {{ value }}                       the payload as text
 *   {{ value_json.a.b }}              a JSON member (and ['key'], ["key"], [0])
 *   {{ value | float }}  | int  | round(n)  | round(n, 'floor'|'ceil'|'half')
 *   | float(default)  | int(default)  | abs
 *   + - * /  and parentheses, number literals, unary minus
 *
 * A template is compiled once (a profile load) into a small expression tree
 * and rendered per message. Anything else ({% %}, other filters and names,
 * literal text around the expression) is refused at compile time with the
 * reason: a discovery entity using it is skipped and reported, never
 * guessed. Rendering follows Python and Home Assistant's filters (which
 * replace Jinja's float, int and round): integers stay integers under
 * + - *, `/` always gives a float, floats print as Python's repr (21.5,
 * 22.0, 1e-05), booleans as True/False, JSON null as None; float, int and
 * round read numbers from text too; round is Python's round (ties to even
 * on the exact binary value) and gives an integer at precision 0.
 *
 * Errors differ from Jinja on purpose where Jinja would print something
 * misleading: a missing JSON member is -ENOENT (Jinja prints "", Home
 * Assistant warns), a failing `float`/`int` without default is -EINVAL
 * (Home Assistant raises too), arithmetic on a string, a division by zero
 * or an integer overflow is -EINVAL/-ERANGE. Pure, no allocation while
 * rendering; fuzzed (tests/fuzz/fuzz_template.c).
 */
#include "mappings/mapping.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TPL_MAX_TEXT  1024
#define TPL_MAX_NODES 64
#define TPL_MAX_STEPS 16
#define TPL_MAX_DEPTH 16

enum node_kind {
	N_NUM,   /* a literal */
	N_VALUE, /* value */
	N_JSON,  /* value_json and its steps */
	N_NEG,
	N_ADD,
	N_SUB,
	N_MUL,
	N_DIV,
	N_FLOAT, /* filters: a is the operand */
	N_INT,
	N_ROUND,
	N_ABS,
};

enum round_method { R_COMMON, R_FLOOR, R_CEIL, R_HALF };

struct node {
	uint8_t kind;
	uint8_t method;             /* N_ROUND */
	bool has_default;           /* N_FLOAT, N_INT */
	int8_t a, b;                /* operands (node indexes), -1 none */
	int precision;              /* N_ROUND */
	struct mapping_tval lit;    /* N_NUM; N_FLOAT/N_INT default */
	uint8_t first_step, nsteps; /* N_JSON: into steps[] */
};

struct mapping_template {
	char *text;
	struct node nodes[TPL_MAX_NODES];
	size_t nnodes;
	struct mapping_tstep steps[TPL_MAX_STEPS];
	size_t nsteps;
	int root;
	bool uses_json;
};

/* ---- compiling --------------------------------------------------------------- */

struct parser {
	struct mapping_template *t;
	const char *s, *end;
	char *why;
	size_t why_size;
	int depth;
	bool failed;
};

static int fail(struct parser *P, const char *msg)
{
	if (!P->failed)
		snprintf(P->why, P->why_size, "%s (at character %zu)", msg, (size_t)(P->s - P->t->text) + 1);
	P->failed = true;
	return -1;
}

static int failf(struct parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int failf(struct parser *P, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(P, msg);
}

static void skip_ws(struct parser *P)
{
	while (P->s < P->end && (*P->s == ' ' || *P->s == '\t' || *P->s == '\n' || *P->s == '\r'))
		P->s++;
}

static bool eat(struct parser *P, char c)
{
	skip_ws(P);
	if (P->s < P->end && *P->s == c) {
		P->s++;
		return true;
	}
	return false;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* An identifier at the cursor (not consumed unless it equals word). */
static bool eat_word(struct parser *P, const char *word)
{
	size_t n = strlen(word);

	skip_ws(P);
	if ((size_t)(P->end - P->s) < n || memcmp(P->s, word, n) != 0)
		return false;
	if (P->s + n < P->end && is_ident(P->s[n]))
		return false;
	P->s += n;
	return true;
}

static int new_node(struct parser *P, enum node_kind k, int a, int b)
{
	struct mapping_template *t = P->t;

	if (t->nnodes >= TPL_MAX_NODES)
		return fail(P, "expression too long");
	t->nodes[t->nnodes] = (struct node){ .kind = (uint8_t)k, .a = (int8_t)a, .b = (int8_t)b };
	return (int)t->nnodes++;
}

/* A decimal literal: Python's int or float syntax (no sign: unary minus). */
static int number(struct parser *P, struct mapping_tval *out)
{
	const char *p = P->s;
	bool is_float = false;
	char buf[64];
	size_t n;

	while (p < P->end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == 'E' ||
			      ((*p == '+' || *p == '-') && p > P->s && (p[-1] == 'e' || p[-1] == 'E')))) {
		if (*p == '.' || *p == 'e' || *p == 'E')
			is_float = true;
		p++;
	}
	n = (size_t)(p - P->s);
	if (n == 0 || n >= sizeof(buf))
		return fail(P, "expected a number");
	memcpy(buf, P->s, n);
	buf[n] = '\0';
	errno = 0;
	if (is_float) {
		char *e;
		double d = strtod(buf, &e);
		if (*e || errno == ERANGE || !isfinite(d))
			return failf(P, "invalid number '%s'", buf);
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_FLOAT, .f = d };
	} else {
		char *e;
		long long v = strtoll(buf, &e, 10);
		if (*e || errno == ERANGE)
			return failf(P, "invalid number '%s'", buf);
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = v };
	}
	P->s = p;
	return 0;
}

/* A string literal in '' or "" (no escapes: keys are plain names). */
static int string_lit(struct parser *P, const char **s, size_t *len)
{
	char q = *P->s;
	const char *p = P->s + 1;

	while (p < P->end && *p != q) {
		if (*p == '\\')
			return fail(P, "escapes in string literals are not supported");
		p++;
	}
	if (p >= P->end)
		return fail(P, "unterminated string");
	*s = P->s + 1;
	*len = (size_t)(p - P->s - 1);
	P->s = p + 1;
	return 0;
}

static int add_step(struct parser *P, struct mapping_tstep st)
{
	struct mapping_template *t = P->t;

	if (t->nsteps >= TPL_MAX_STEPS)
		return fail(P, "too many levels in value_json");
	t->steps[t->nsteps++] = st;
	return 0;
}

static int expr(struct parser *P);

static int primary(struct parser *P)
{
	skip_ws(P);
	if (P->s >= P->end)
		return fail(P, "unexpected end of the expression");
	if (*P->s == '(') {
		int n;
		P->s++;
		if (++P->depth > TPL_MAX_DEPTH)
			return fail(P, "parentheses nested too deeply");
		n = expr(P);
		P->depth--;
		if (n < 0)
			return n;
		if (!eat(P, ')'))
			return fail(P, "expected ')'");
		return n;
	}
	if ((*P->s >= '0' && *P->s <= '9') || *P->s == '.') {
		struct mapping_tval v;
		int n;
		if (number(P, &v) < 0)
			return -1;
		n = new_node(P, N_NUM, -1, -1);
		if (n >= 0)
			P->t->nodes[n].lit = v;
		return n;
	}
	if (eat_word(P, "value_json")) {
		int n = new_node(P, N_JSON, -1, -1);
		if (n < 0)
			return n;
		P->t->uses_json = true;
		P->t->nodes[n].first_step = (uint8_t)P->t->nsteps;
		for (;;) {
			struct mapping_tstep st = { 0 };
			skip_ws(P);
			if (P->s < P->end && *P->s == '.') {
				const char *b;
				P->s++;
				skip_ws(P);
				b = P->s;
				if (P->s >= P->end || !is_ident_start(*P->s))
					return fail(P, "expected a member name after '.'");
				while (P->s < P->end && is_ident(*P->s))
					P->s++;
				st.key = b;
				st.len = (size_t)(P->s - b);
			} else if (P->s < P->end && *P->s == '[') {
				P->s++;
				skip_ws(P);
				if (P->s < P->end && (*P->s == '\'' || *P->s == '"')) {
					if (string_lit(P, &st.key, &st.len) < 0)
						return -1;
				} else if (P->s < P->end && *P->s >= '0' && *P->s <= '9') {
					struct mapping_tval v;
					if (number(P, &v) < 0 || v.kind != MAPPING_TVAL_INT || v.i > 1000000)
						return fail(P, "expected a list index 0..1000000");
					st.is_index = true;
					st.index = (long)v.i;
				} else
					return fail(P, "expected 'key' or an index in []");
				if (!eat(P, ']'))
					return fail(P, "expected ']'");
			} else
				break;
			if (add_step(P, st) < 0)
				return -1;
			P->t->nodes[n].nsteps++;
		}
		return n;
	}
	if (eat_word(P, "value"))
		return new_node(P, N_VALUE, -1, -1);
	if (is_ident_start(*P->s)) {
		char name[32];
		size_t k = 0;
		while (P->s + k < P->end && is_ident(P->s[k]) && k + 1 < sizeof(name)) {
			name[k] = P->s[k];
			k++;
		}
		name[k] = '\0';
		return failf(P, "unknown name '%s' (only value and value_json)", name);
	}
	return fail(P, "unexpected character");
}

/* `| name` or `| name(args)` after an operand. */
static int filter(struct parser *P, int operand)
{
	const char *b;
	char name[16];
	size_t k;
	int n;

	skip_ws(P);
	b = P->s;
	while (P->s < P->end && is_ident(*P->s))
		P->s++;
	k = (size_t)(P->s - b);
	if (k == 0 || k >= sizeof(name))
		return fail(P, "expected a filter name after '|'");
	memcpy(name, b, k);
	name[k] = '\0';
	if (strcmp(name, "float") == 0 || strcmp(name, "int") == 0) {
		n = new_node(P, name[0] == 'f' ? N_FLOAT : N_INT, operand, -1);
		if (n < 0)
			return n;
		if (eat(P, '(')) {
			struct mapping_tval v;
			bool neg = eat(P, '-');
			skip_ws(P);
			if (number(P, &v) < 0)
				return -1;
			if (neg) {
				if (v.kind == MAPPING_TVAL_INT)
					v.i = -v.i;
				else
					v.f = -v.f;
			}
			P->t->nodes[n].lit = v;
			P->t->nodes[n].has_default = true;
			if (!eat(P, ')'))
				return failf(P, "expected ')' after the default of '%s'", name);
		}
		return n;
	}
	if (strcmp(name, "abs") == 0)
		return new_node(P, N_ABS, operand, -1);
	if (strcmp(name, "round") == 0) {
		n = new_node(P, N_ROUND, operand, -1);
		if (n < 0)
			return n;
		if (eat(P, '(')) {
			if (!eat(P, ')')) {
				struct mapping_tval v;
				skip_ws(P);
				if (number(P, &v) < 0 || v.kind != MAPPING_TVAL_INT || v.i > 15)
					return fail(P, "round: the precision is an integer 0..15");
				P->t->nodes[n].precision = (int)v.i;
				if (eat(P, ',')) {
					const char *m;
					size_t ml;
					skip_ws(P);
					if (P->s >= P->end || (*P->s != '\'' && *P->s != '"') ||
					    string_lit(P, &m, &ml) < 0)
						return fail(P, "round: the method is 'common', 'floor', "
							       "'ceil' or 'half'");
					if (ml == 6 && memcmp(m, "common", 6) == 0)
						P->t->nodes[n].method = R_COMMON;
					else if (ml == 5 && memcmp(m, "floor", 5) == 0)
						P->t->nodes[n].method = R_FLOOR;
					else if (ml == 4 && memcmp(m, "ceil", 4) == 0)
						P->t->nodes[n].method = R_CEIL;
					else if (ml == 4 && memcmp(m, "half", 4) == 0)
						P->t->nodes[n].method = R_HALF;
					else
						return fail(P, "round: the method is 'common', 'floor', "
							       "'ceil' or 'half'");
				}
				if (!eat(P, ')'))
					return fail(P, "expected ')' after round's arguments");
			}
		}
		return n;
	}
	return failf(P, "unsupported filter '%s' (supported: float, int, round, abs)", name);
}

/* Jinja's parse_unary: a minus applies before the filters that follow. */
static int unary(struct parser *P, bool with_filter)
{
	int n;

	if (eat(P, '-')) {
		int a = unary(P, false);
		if (a < 0)
			return a;
		n = new_node(P, N_NEG, a, -1);
	} else
		n = primary(P);
	while (n >= 0 && with_filter && eat(P, '|'))
		n = filter(P, n);
	return n;
}

static int term(struct parser *P)
{
	int n = unary(P, true);

	while (n >= 0) {
		enum node_kind k;
		skip_ws(P);
		if (P->s < P->end && *P->s == '*' && !(P->s + 1 < P->end && P->s[1] == '*'))
			k = N_MUL;
		else if (P->s < P->end && *P->s == '/' && !(P->s + 1 < P->end && P->s[1] == '/'))
			k = N_DIV;
		else
			break;
		P->s++;
		int b = unary(P, true);
		if (b < 0)
			return b;
		n = new_node(P, k, n, b);
	}
	return n;
}

static int expr(struct parser *P)
{
	int n = term(P);

	while (n >= 0) {
		enum node_kind k;
		skip_ws(P);
		if (P->s < P->end && *P->s == '+')
			k = N_ADD;
		else if (P->s < P->end && *P->s == '-' && !(P->s + 1 < P->end && P->s[1] == '}'))
			k = N_SUB; /* "-}}" is Jinja's whitespace control */
		else
			break;
		P->s++;
		int b = term(P);
		if (b < 0)
			return b;
		n = new_node(P, k, n, b);
	}
	return n;
}

int mapping_template_compile(const char *text, struct mapping_template **out, char *why, size_t why_size)
{
	struct mapping_template *t;
	struct parser P = { .why = why, .why_size = why_size };
	size_t len = text ? strlen(text) : 0;

	*out = NULL;
	if (why_size)
		why[0] = '\0';
	if (!text || len == 0 || len > TPL_MAX_TEXT) {
		snprintf(why, why_size, "a template is 1 to %d characters", TPL_MAX_TEXT);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->text = strdup(text))) {
		free(t);
		return -ENOMEM;
	}
	P.t = t;
	P.s = t->text;
	P.end = t->text + len;
	skip_ws(&P);
	if (P.end - P.s < 2 || memcmp(P.s, "{{", 2) != 0) {
		fail(&P, "expected '{{ ... }}' around the whole template (no text outside, no {% %})");
		goto bad;
	}
	P.s += 2;
	/* Jinja's whitespace control: {{- and -}} */
	if (P.s < P.end && *P.s == '-')
		P.s++;
	t->root = expr(&P);
	if (t->root < 0)
		goto bad;
	skip_ws(&P);
	if (P.s < P.end && *P.s == '-' && P.s + 1 < P.end && P.s[1] == '}')
		P.s++;
	if (P.end - P.s < 2 || memcmp(P.s, "}}", 2) != 0) {
		fail(&P, "expected '}}' (only value, value_json, numbers, + - * /, and the filters float, "
			 "int, round, abs)");
		goto bad;
	}
	P.s += 2;
	skip_ws(&P);
	if (P.s != P.end) {
		fail(&P, "text after '}}' (one expression per template)");
		goto bad;
	}
	*out = t;
	return 0;
bad:
	mapping_template_free(t);
	return -EINVAL;
}

struct mapping_template *mapping_template_free(struct mapping_template *t)
{
	if (t) {
		free(t->text);
		free(t);
	}
	return NULL;
}

bool mapping_template_uses_json(const struct mapping_template *t)
{
	return t && t->uses_json;
}

const char *mapping_template_text(const struct mapping_template *t)
{
	return t ? t->text : NULL;
}

/* ---- rendering --------------------------------------------------------------- */

struct ctx {
	const struct mapping_template *t;
	const char *value;
	size_t value_len;
	mapping_template_json_fn json;
	void *ud;
};

/* Python's float(): optional blanks, a decimal or "inf"/"nan" (refused:
 * not a measurement). */
static int parse_float(const char *s, size_t n, double *out)
{
	char buf[128], *e;
	double d;

	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strspn(buf, "0123456789+-.eE_") != n)
		return -EINVAL; /* no hex, inf, nan */
	if (strchr(buf, '_'))
		return -EINVAL;
	errno = 0;
	d = strtod(buf, &e);
	if (*e || e == buf || !isfinite(d))
		return -EINVAL;
	*out = d;
	return 0;
}

/* Python's int() of a string: optional blanks and sign, decimal digits. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
	char buf[64], *e;
	long long v;

	while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if (n == 0 || n >= sizeof(buf) || memchr(s, '\0', n))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strspn(buf + (buf[0] == '+' || buf[0] == '-'), "0123456789") !=
		    n - (buf[0] == '+' || buf[0] == '-') ||
	    n == (size_t)(buf[0] == '+' || buf[0] == '-'))
		return -EINVAL;
	errno = 0;
	v = strtoll(buf, &e, 10);
	if (*e || errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

static bool is_number(const struct mapping_tval *v)
{
	return v->kind == MAPPING_TVAL_INT || v->kind == MAPPING_TVAL_FLOAT || v->kind == MAPPING_TVAL_BOOL;
}

static double as_double(const struct mapping_tval *v)
{
	return v->kind == MAPPING_TVAL_FLOAT ? v->f
	       : v->kind == MAPPING_TVAL_INT ? (double)v->i
	       : v->b                        ? 1.0
					     : 0.0;
}

static int64_t as_int(const struct mapping_tval *v)
{
	return v->kind == MAPPING_TVAL_INT ? v->i : v->b ? 1 : 0;
}

/* Python's round(x, n) for a float: the exact binary value rounded to n
 * decimals, ties to even. glibc's printf rounds the exact value in the
 * current rounding mode (to nearest, ties to even): the same. */
static double py_round(double x, int n)
{
	char buf[400];

	if (!isfinite(x))
		return x;
	snprintf(buf, sizeof(buf), "%.*f", n, x);
	return strtod(buf, NULL);
}

static int eval(struct ctx *C, int i, struct mapping_tval *out);

/* -a when flip (unary minus, abs of a negative), else a; a number. */
static int negate(const struct mapping_tval *a, bool flip, struct mapping_tval *out)
{
	if (!is_number(a))
		return -EINVAL;
	if (a->kind == MAPPING_TVAL_FLOAT)
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_FLOAT, .f = flip ? -a->f : a->f };
	else if (flip && as_int(a) == INT64_MIN)
		return -ERANGE;
	else
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = flip ? -as_int(a) : as_int(a) };
	return 0;
}

static int eval_filter(struct ctx *C, const struct node *nd, struct mapping_tval *out)
{
	struct mapping_tval a;
	int r = eval(C, nd->a, &a);

	if (r < 0)
		return r;
	switch (nd->kind) {
	case N_FLOAT:
		if (is_number(&a)) {
			*out = (struct mapping_tval){ .kind = MAPPING_TVAL_FLOAT, .f = as_double(&a) };
			return 0;
		}
		if (a.kind == MAPPING_TVAL_STRING && parse_float(a.s, a.len, &out->f) == 0) {
			out->kind = MAPPING_TVAL_FLOAT;
			return 0;
		}
		if (!nd->has_default)
			return -EINVAL;
		*out = nd->lit;
		return 0;
	case N_INT:
		if (a.kind == MAPPING_TVAL_INT || a.kind == MAPPING_TVAL_BOOL) {
			*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = as_int(&a) };
			return 0;
		}
		if (a.kind == MAPPING_TVAL_FLOAT) {
			if (!isfinite(a.f) || fabs(a.f) >= 9.2e18)
				return -ERANGE;
			*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = (int64_t)a.f };
			return 0;
		}
		if (a.kind == MAPPING_TVAL_STRING) {
			double d;
			/* Jinja: int(value), else int(float(value)). */
			if (parse_int(a.s, a.len, &out->i) == 0) {
				out->kind = MAPPING_TVAL_INT;
				return 0;
			}
			if (parse_float(a.s, a.len, &d) == 0 && fabs(d) < 9.2e18) {
				*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = (int64_t)d };
				return 0;
			}
		}
		if (!nd->has_default)
			return -EINVAL;
		*out = nd->lit;
		return 0;
	case N_ABS:
		return negate(&a, a.kind == MAPPING_TVAL_FLOAT ? signbit(a.f) != 0 : as_int(&a) < 0, out);
	case N_ROUND: {
		/* Home Assistant's round: float(value) first (text too), then
		 * Python's round, floor, ceil or to the half; an integer when
		 * the precision is 0. */
		double p10 = pow(10.0, nd->precision), d;
		if (is_number(&a))
			d = as_double(&a);
		else if (a.kind != MAPPING_TVAL_STRING || parse_float(a.s, a.len, &d) < 0)
			return -EINVAL;
		switch (nd->method) {
		case R_FLOOR:
			d = floor(d * p10) / p10;
			break;
		case R_CEIL:
			d = ceil(d * p10) / p10;
			break;
		case R_HALF:
			d = py_round(d * 2, 0) / 2;
			break;
		default:
			d = py_round(d, nd->precision);
			break;
		}
		if (!isfinite(d))
			return -ERANGE;
		if (nd->precision == 0) {
			if (fabs(d) >= 9.2e18)
				return -ERANGE;
			*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = (int64_t)d };
		} else
			*out = (struct mapping_tval){ .kind = MAPPING_TVAL_FLOAT, .f = d };
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int arith(const struct node *nd, const struct mapping_tval *a, const struct mapping_tval *b,
		 struct mapping_tval *out)
{
	if (!is_number(a) || !is_number(b))
		return -EINVAL; /* Jinja would concatenate strings: not a measurement */
	if (nd->kind != N_DIV && a->kind != MAPPING_TVAL_FLOAT && b->kind != MAPPING_TVAL_FLOAT) {
		int64_t x = as_int(a), y = as_int(b), z;
		bool ovf = nd->kind == N_ADD   ? __builtin_add_overflow(x, y, &z)
			   : nd->kind == N_SUB ? __builtin_sub_overflow(x, y, &z)
					       : __builtin_mul_overflow(x, y, &z);
		if (ovf)
			return -ERANGE;
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_INT, .i = z };
		return 0;
	}
	double x = as_double(a), y = as_double(b), z;
	switch (nd->kind) {
	case N_ADD:
		z = x + y;
		break;
	case N_SUB:
		z = x - y;
		break;
	case N_MUL:
		z = x * y;
		break;
	default:
		if (y == 0)
			return -ERANGE; /* ZeroDivisionError */
		z = x / y;
		break;
	}
	if (!isfinite(z))
		return -ERANGE;
	*out = (struct mapping_tval){ .kind = MAPPING_TVAL_FLOAT, .f = z };
	return 0;
}

static int eval(struct ctx *C, int i, struct mapping_tval *out)
{
	const struct node *nd = &C->t->nodes[i];
	struct mapping_tval a, b;
	int r;

	switch (nd->kind) {
	case N_NUM:
		*out = nd->lit;
		return 0;
	case N_VALUE:
		*out = (struct mapping_tval){ .kind = MAPPING_TVAL_STRING,
					      .s = C->value,
					      .len = C->value_len };
		return 0;
	case N_JSON:
		if (!C->json)
			return -EBADMSG;
		*out = (struct mapping_tval){ 0 };
		r = C->json(C->ud, &C->t->steps[nd->first_step], nd->nsteps, out);
		if (r < 0)
			return r;
		return out->kind == MAPPING_TVAL_NONE ? -ENOENT : 0;
	case N_NEG:
		r = eval(C, nd->a, &a);
		if (r < 0)
			return r;
		return negate(&a, true, out);
	case N_ADD:
	case N_SUB:
	case N_MUL:
	case N_DIV:
		r = eval(C, nd->a, &a);
		if (r >= 0)
			r = eval(C, nd->b, &b);
		return r < 0 ? r : arith(nd, &a, &b, out);
	default:
		return eval_filter(C, nd, out);
	}
}

int mapping_template_eval(const struct mapping_template *t, const char *value, size_t value_len,
			  mapping_template_json_fn json, void *ud, struct mapping_tval *out)
{
	struct ctx C = { .t = t,
			 .value = value ? value : "",
			 .value_len = value ? value_len : 0,
			 .json = json,
			 .ud = ud };

	if (!t || !out)
		return -EINVAL;
	return eval(&C, t->root, out);
}

int mapping_py_float_repr(double d, char *buf, size_t size)
{
	char digits[40], *e;
	int prec, exp10, n;

	if (isnan(d))
		return snprintf(buf, size, "nan");
	if (isinf(d))
		return snprintf(buf, size, "%sinf", d < 0 ? "-" : "");
	/* The shortest %e precision that reads back exactly (repr's digits). */
	for (prec = 0; prec < 17; prec++) {
		snprintf(digits, sizeof(digits), "%.*e", prec, d);
		if (strtod(digits, NULL) == d)
			break;
	}
	e = strchr(digits, 'e');
	exp10 = atoi(e + 1);
	if (exp10 < -4 || exp10 >= 16) {
		/* repr: mantissa without trailing zeros, exponent with a sign
		 * and at least two digits: 1e-05, 1.5e+16. */
		char mant[32];
		size_t ml = (size_t)(e - digits);
		memcpy(mant, digits, ml);
		mant[ml] = '\0';
		if (strchr(mant, '.')) {
			while (ml > 0 && mant[ml - 1] == '0')
				mant[--ml] = '\0';
			if (ml > 0 && mant[ml - 1] == '.')
				mant[--ml] = '\0';
		}
		n = snprintf(buf, size, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
	} else {
		int decimals = prec - exp10;
		n = snprintf(buf, size, "%.*f", decimals > 0 ? decimals : 0, d);
		if (decimals <= 0 && n >= 0 && (size_t)n + 2 < size) {
			buf[n++] = '.';
			buf[n++] = '0';
			buf[n] = '\0';
		}
	}
	return n;
}

int mapping_tval_text(const struct mapping_tval *v, char *buf, size_t size)
{
	int n;

	switch (v->kind) {
	case MAPPING_TVAL_NULL:
		n = snprintf(buf, size, "None");
		break;
	case MAPPING_TVAL_BOOL:
		n = snprintf(buf, size, "%s", v->b ? "True" : "False");
		break;
	case MAPPING_TVAL_INT:
		n = snprintf(buf, size, "%lld", (long long)v->i);
		break;
	case MAPPING_TVAL_FLOAT:
		n = mapping_py_float_repr(v->f, buf, size);
		break;
	case MAPPING_TVAL_STRING:
		if (v->len >= size)
			return -ENOBUFS;
		memcpy(buf, v->s, v->len);
		buf[v->len] = '\0';
		return (int)v->len;
	default:
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= size)
		return -ENOBUFS;
	return n;
}

int mapping_template_render(const struct mapping_template *t, const char *value, size_t value_len,
			    mapping_template_json_fn json, void *ud, char *buf, size_t size)
{
	struct mapping_tval v;
	int r = mapping_template_eval(t, value, value_len, json, ud, &v);

	return r < 0 ? r : mapping_tval_text(&v, buf, size);
}
