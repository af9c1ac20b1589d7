/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CoRE link format (RFC 6690), content format 40: Register/Update payloads,
 * Discover responses, Object 25 "IoT Device Objects".
 *
 *   links     = [ link *( "," link ) ]
 *   link      = "<" URI-Reference ">" *( ";" param )
 *   param     = parmname [ "=" ( ptoken / quoted-string ) ]
 *   parmname  = 1*( ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." /
 *                   "^" / "_" / "`" / "|" / "~" )              (RFC 5987)
 *   ptoken    = 1*( ALPHA / DIGIT / "!#$%&'()*+-./:<=>?@[]^_`{|}~" )
 *   quoted    = DQUOTE *( qdtext / "\" CHAR ) DQUOTE        (RFC 2616)
 *
 * Whitespace (SP, HTAB, CR, LF) is tolerated around ',' and ';' and at both
 * ends of the document, as RFC 5988's header syntax allows; not inside a
 * URI, a name, a token, nor around '='. A URI-Reference is taken as printable
 * ASCII without '<', '>', '"' and spaces (RFC 3986 allows no others).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_parmname_char(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$&+-.^_`|~", c));
}

static bool is_ptoken_char(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'()*+-./:<=>?@[]^_`{|}~", c));
}

static bool is_uri_char(unsigned char c)
{
	return c > 0x20 && c < 0x7F && c != '<' && c != '>' && c != '"';
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Control characters other than HTAB may only appear escaped in a quoted
 * string (RFC 2616 qdtext excludes CTLs; quoted-pair takes any CHAR). */
static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7F;
}

struct link_parser {
	const char *s;
	size_t n, i;
	char *scratch; /* unescaped copies of quoted values that had escapes */
};

static void skip_ws(struct link_parser *p)
{
	while (p->i < p->n && is_ws(p->s[p->i]))
		p->i++;
}

/* Parse a quoted string starting at p->i ('"'); set v to its content. Values
 * with backslash escapes are unescaped into p->scratch at *used. */
static int parse_quoted(struct link_parser *p, struct lwm2m_span *v, size_t *used)
{
	size_t start = ++p->i;
	bool escaped = false;

	while (p->i < p->n && p->s[p->i] != '"') {
		unsigned char c = (unsigned char)p->s[p->i];
		if (c == '\\') {
			if (p->i + 1 >= p->n || (unsigned char)p->s[p->i + 1] > 0x7F)
				return -EBADMSG;
			escaped = true;
			p->i += 2;
			continue;
		}
		if (is_ctl(c))
			return -EBADMSG;
		p->i++;
	}
	if (p->i >= p->n)
		return -EBADMSG; /* unterminated */
	if (!escaped) {
		v->ptr = p->s + start;
		v->len = p->i - start;
	} else {
		char *dst = p->scratch + *used;
		size_t k = 0;
		for (size_t j = start; j < p->i; j++) {
			if (p->s[j] == '\\')
				j++;
			dst[k++] = p->s[j];
		}
		v->ptr = dst;
		v->len = k;
		*used += k;
	}
	p->i++; /* closing quote */
	return 0;
}

static int parse_link(struct link_parser *p, struct lwm2m_link *l)
{
	size_t used = 0, start;

	*l = (struct lwm2m_link){ 0 };
	if (p->i >= p->n || p->s[p->i] != '<')
		return -EBADMSG;
	start = ++p->i;
	while (p->i < p->n && is_uri_char((unsigned char)p->s[p->i]))
		p->i++;
	if (p->i >= p->n || p->s[p->i] != '>')
		return -EBADMSG;
	l->uri.ptr = p->s + start;
	l->uri.len = p->i - start;
	p->i++;

	for (;;) {
		struct lwm2m_link_param *prm;
		int r;

		skip_ws(p);
		if (p->i >= p->n || p->s[p->i] != ';')
			return 0;
		p->i++;
		skip_ws(p);
		if (l->nparams == LWM2M_LINK_MAX_PARAMS)
			return -EBADMSG;
		prm = &l->params[l->nparams];
		start = p->i;
		while (p->i < p->n && is_parmname_char((unsigned char)p->s[p->i]))
			p->i++;
		if (p->i == start)
			return -EBADMSG;
		prm->name.ptr = p->s + start;
		prm->name.len = p->i - start;
		if (p->i < p->n && p->s[p->i] == '=') {
			p->i++;
			prm->has_value = true;
			if (p->i < p->n && p->s[p->i] == '"') {
				prm->quoted = true;
				r = parse_quoted(p, &prm->value, &used);
				if (r < 0)
					return r;
			} else {
				start = p->i;
				while (p->i < p->n && is_ptoken_char((unsigned char)p->s[p->i]))
					p->i++;
				if (p->i == start)
					return -EBADMSG;
				prm->value.ptr = p->s + start;
				prm->value.len = p->i - start;
			}
		}
		l->nparams++;
	}
}

int lwm2m_link_parse(const char *s, size_t n, lwm2m_link_fn cb, void *ctx)
{
	struct link_parser p = { .s = s, .n = n };
	struct lwm2m_link l;
	int r = 0;

	if ((!s && n) || !cb)
		return -EINVAL;
	/* Unescaped values are never longer than the input: one scratch buffer
	 * of n bytes, reused for each link, serves them all. Allocated only
	 * when the document contains a backslash. */
	if (n && memchr(s, '\\', n)) {
		p.scratch = malloc(n);
		if (!p.scratch)
			return -ENOMEM;
	}
	skip_ws(&p);
	while (p.i < p.n) {
		r = parse_link(&p, &l);
		if (r < 0)
			break;
		skip_ws(&p);
		if (p.i < p.n) {
			if (p.s[p.i] != ',') {
				r = -EBADMSG;
				break;
			}
			p.i++;
			skip_ws(&p);
			if (p.i == p.n) {
				r = -EBADMSG; /* trailing ',' */
				break;
			}
		}
		r = cb(ctx, &l);
		if (r != 0)
			break;
	}
	free(p.scratch);
	return r;
}

static bool needs_quotes(const struct lwm2m_span *v)
{
	if (v->len == 0)
		return true;
	for (size_t i = 0; i < v->len; i++)
		if (!is_ptoken_char((unsigned char)v->ptr[i]))
			return true;
	return false;
}

static int put_quoted(struct lwm2m_buf *out, const struct lwm2m_span *v)
{
	int r = lwm2m_buf_putc(out, '"');

	for (size_t i = 0; r == 0 && i < v->len; i++) {
		unsigned char c = (unsigned char)v->ptr[i];
		if (c == '"' || c == '\\' || is_ctl(c)) {
			r = lwm2m_buf_putc(out, '\\');
			if (r < 0)
				break;
		}
		r = lwm2m_buf_putc(out, c);
	}
	if (r == 0)
		r = lwm2m_buf_putc(out, '"');
	return r;
}

static int encode_link(struct lwm2m_buf *out, const struct lwm2m_link *l)
{
	int r;

	if ((l->uri.len && !l->uri.ptr) || l->nparams > LWM2M_LINK_MAX_PARAMS)
		return -EINVAL;
	for (size_t i = 0; i < l->uri.len; i++)
		if (!is_uri_char((unsigned char)l->uri.ptr[i]))
			return -EINVAL;
	r = lwm2m_buf_putc(out, '<');
	if (r == 0)
		r = lwm2m_buf_append(out, l->uri.ptr, l->uri.len);
	if (r == 0)
		r = lwm2m_buf_putc(out, '>');
	for (size_t k = 0; r == 0 && k < l->nparams; k++) {
		const struct lwm2m_link_param *prm = &l->params[k];

		if (prm->name.len == 0 || !prm->name.ptr || (prm->value.len && !prm->value.ptr))
			return -EINVAL;
		for (size_t i = 0; i < prm->name.len; i++)
			if (!is_parmname_char((unsigned char)prm->name.ptr[i]))
				return -EINVAL;
		/* A byte above 0x7F cannot be escaped (quoted-pair is ASCII), but
		 * qdtext takes it as it is. */
		r = lwm2m_buf_putc(out, ';');
		if (r == 0)
			r = lwm2m_buf_append(out, prm->name.ptr, prm->name.len);
		if (r < 0 || !prm->has_value)
			continue;
		r = lwm2m_buf_putc(out, '=');
		if (r < 0)
			break;
		if (prm->quoted || needs_quotes(&prm->value))
			r = put_quoted(out, &prm->value);
		else
			r = lwm2m_buf_append(out, prm->value.ptr, prm->value.len);
	}
	return r;
}

int lwm2m_link_encode(struct lwm2m_buf *out, const struct lwm2m_link *links, size_t n)
{
	size_t start;
	int r = 0;

	if (!out || (n && !links))
		return -EINVAL;
	start = out->len;
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (i > 0)
			r = lwm2m_buf_putc(out, ',');
		if (r == 0)
			r = encode_link(out, &links[i]);
	}
	if (r < 0)
		out->len = start;
	return r;
}
