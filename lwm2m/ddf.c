/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loader of OMA object definition files (DDF XML, the LWM2M.xsd format of the
 * OMA LwM2M registry) with expat.
 *
 * Accepted: <LWM2M> with one or more <Object ObjectType="MODefinition">
 * holding Name, ObjectID, ObjectVersion (optional, default 1.0),
 * MultipleInstances, Mandatory and Resources/Item[@ID] with Name, Operations,
 * MultipleInstances, Mandatory, Type, RangeEnumeration, Units. Descriptions
 * and any other element are skipped. Every problem in a required field is
 * reported through the diag callback as file:line:col with the bad value and
 * what would have been accepted, and nothing is loaded from a document with
 * a problem.
 *
 * Documents that are not object definitions load nothing and report nothing:
 * a root element other than <LWM2M> (the registry's XSDs, DDF.xml's
 * <DDFList>, LWM2M_senml_units.xml's <units>) and <Object> elements whose
 * ObjectType is not "MODefinition" (Common.xml's "CommonResources").
 *
 * Hostile input: files are capped at 4 MiB and 32 levels of elements, any
 * DOCTYPE is refused (so there are no entity declarations to expand: no
 * "billion laughs", no external entities), and where expat.h exposes them
 * its own amplification limits are set as a second line of defence.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>

#include "lwm2m/registry_internal.h"

#define DDF_MAX_SIZE  (4u << 20)
#define DDF_MAX_DEPTH 32
#define DDF_MAX_TEXT  4096

/* What an element is, from where it sits in the tree. */
enum kind {
	K_IGNORE = 0, /* unknown element or anything below one */
	K_ROOT,
	K_OBJECT,
	K_RESOURCES,
	K_ITEM,
	K_FIELD, /* a leaf whose text we keep; which one is in field */
};

enum field {
	F_NONE = 0,
	F_OBJ_NAME,
	F_OBJ_ID,
	F_OBJ_VERSION,
	F_OBJ_MULTIPLE,
	F_OBJ_MANDATORY,
	F_RES_NAME,
	F_RES_OPS,
	F_RES_MULTIPLE,
	F_RES_MANDATORY,
	F_RES_TYPE,
	F_RES_RANGE,
	F_RES_UNITS,
	F__MAX,
};

struct field_name {
	const char *tag;
	enum field f;
};

static const struct field_name object_fields[] = {
	{ "Name", F_OBJ_NAME },
	{ "ObjectID", F_OBJ_ID },
	{ "ObjectVersion", F_OBJ_VERSION },
	{ "MultipleInstances", F_OBJ_MULTIPLE },
	{ "Mandatory", F_OBJ_MANDATORY },
};

static const struct field_name item_fields[] = {
	{ "Name", F_RES_NAME },
	{ "Operations", F_RES_OPS },
	{ "MultipleInstances", F_RES_MULTIPLE },
	{ "Mandatory", F_RES_MANDATORY },
	{ "Type", F_RES_TYPE },
	{ "RangeEnumeration", F_RES_RANGE },
	{ "Units", F_RES_UNITS },
};

struct pos {
	unsigned line, col;
};

/* A resource or object while it is being read; strings are heap copies. */
struct tres {
	struct lwm2m_resdef d;
	char *name, *units;
	struct pos pos;
	uint32_t seen; /* 1 << enum field */
	bool id_ok;
};

struct tobj {
	uint16_t oid;
	uint8_t major, minor, flags;
	char *name;
	struct tres *res;
	size_t nres, cap;
	struct pos pos;
	uint32_t seen;
	bool oid_ok;
};

struct ddf {
	XML_Parser xp;
	const char *doc;
	size_t doclen;
	const char *file;
	lwm2m_diag_fn diag;
	void *ctx;

	unsigned depth;
	uint8_t kind[DDF_MAX_DEPTH];
	enum field field;

	struct tobj *objs;
	size_t nobj, capobj;
	bool in_obj, in_res;

	char *text;
	size_t tlen, tcap;
	struct pos tag_pos, text_pos;
	bool have_text_pos, text_too_long;

	bool stopped;  /* XML_StopParser called: ignore the call-backs that follow */
	bool foreign;  /* not an object definition document: load nothing */
	int xml_error; /* -EBADMSG once the document itself is broken */
	int error;     /* first field error (-EINVAL) or -ENOMEM */
};

static void report(struct ddf *p, struct pos at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(struct ddf *p, struct pos at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!p->diag)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->diag(p->ctx, p->file, at.line, at.col, msg);
}

static void field_error(struct ddf *p, struct pos at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void field_error(struct ddf *p, struct pos at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!p->error)
		p->error = -EINVAL;
	if (!p->diag)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->diag(p->ctx, p->file, at.line, at.col, msg);
}

static void stop(struct ddf *p)
{
	p->stopped = true;
	XML_StopParser(p->xp, XML_FALSE);
}

static void oom(struct ddf *p)
{
	p->error = -ENOMEM;
	stop(p);
}

static struct pos here(struct ddf *p)
{
	/* expat counts lines from 1 and columns from 0. */
	return (struct pos){ (unsigned)XML_GetCurrentLineNumber(p->xp),
			     (unsigned)XML_GetCurrentColumnNumber(p->xp) + 1 };
}

/* A value for a message: quoted by the caller, cut at 60 bytes, control
 * characters and quotes escaped so that a diagnostic stays on one line. */
static const char *shown(const char *s, char out[256])
{
	size_t o = 0;

	for (size_t i = 0; s[i] && o < 240; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 60) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
			o += (size_t)snprintf(out + o, 256 - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static char *trimmed(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/* Canonical decimal 0..65534, the id space of objects and resources. */
static bool parse_id(const char *s, uint16_t *out)
{
	uint32_t v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > LWM2M_ID_MAX)
		return false;
	*out = (uint16_t)v;
	return true;
}

static bool parse_u8(const char *s, size_t n, uint8_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 3)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 255)
		return false;
	*out = (uint8_t)v;
	return true;
}

static bool parse_version(const char *s, uint8_t *major, uint8_t *minor)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return false;
	return parse_u8(s, (size_t)(dot - s), major) && parse_u8(dot + 1, strlen(dot + 1), minor);
}

/* [-]digits[.digits] */
static size_t scan_number(const char *s)
{
	size_t i = 0;

	if (s[i] == '-')
		i++;
	if (s[i] < '0' || s[i] > '9')
		return 0;
	while (s[i] >= '0' && s[i] <= '9')
		i++;
	if (s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
		i++;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i;
}

/* strtod of text already checked to be [-]digits[.digits], with '.' as the
 * decimal point whatever LC_NUMERIC the process runs with. */
static bool c_strtod(const char *s, double *out)
{
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	char *end;

	if (c == (locale_t)0)
		return false;
	*out = strtod_l(s, &end, c);
	freelocale(c);
	return *end == '\0' && isfinite(*out);
}

/* A RangeEnumeration that is a plain numeric "MIN..MAX" with MIN <= MAX;
 * anything else ("0..255 bytes", "1-65534", enumerations, prose) is kept
 * as no range: it is documentation, not a constraint we can check. */
static bool parse_range(const char *s, double *min, double *max)
{
	size_t a = scan_number(s), b;
	char buf[64];

	if (a == 0 || a >= sizeof(buf) || s[a] != '.' || s[a + 1] != '.')
		return false;
	b = scan_number(s + a + 2);
	if (b == 0 || b >= sizeof(buf) || s[a + 2 + b] != '\0')
		return false;
	double lo, hi;
	memcpy(buf, s, a);
	buf[a] = '\0';
	if (!c_strtod(buf, &lo))
		return false;
	memcpy(buf, s + a + 2, b);
	buf[b] = '\0';
	if (!c_strtod(buf, &hi) || !(lo <= hi))
		return false;
	*min = lo;
	*max = hi;
	return true;
}

static bool word_is(const char *s, const char *w)
{
	return strcasecmp(s, w) == 0;
}

static struct tobj *cur_obj(struct ddf *p)
{
	return p->in_obj ? &p->objs[p->nobj - 1] : NULL;
}

static struct tres *cur_res(struct ddf *p)
{
	struct tobj *o = cur_obj(p);
	return o && p->in_res ? &o->res[o->nres - 1] : NULL;
}

static const char *attr(const XML_Char **atts, const char *name)
{
	for (size_t i = 0; atts[i]; i += 2)
		if (strcmp(atts[i], name) == 0)
			return atts[i + 1];
	return NULL;
}

static enum field lookup_field(const struct field_name *t, size_t n, const char *tag)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].tag, tag) == 0)
			return t[i].f;
	return F_NONE;
}

static const char *field_tag(enum field f)
{
	for (size_t i = 0; i < sizeof(object_fields) / sizeof(object_fields[0]); i++)
		if (object_fields[i].f == f)
			return object_fields[i].tag;
	for (size_t i = 0; i < sizeof(item_fields) / sizeof(item_fields[0]); i++)
		if (item_fields[i].f == f)
			return item_fields[i].tag;
	return "?";
}

static void start_object(struct ddf *p, struct pos at)
{
	if (p->nobj == p->capobj) {
		size_t c = p->capobj ? p->capobj * 2 : 4;
		struct tobj *v = realloc(p->objs, c * sizeof(*v));
		if (!v) {
			oom(p);
			return;
		}
		p->objs = v;
		p->capobj = c;
	}
	p->objs[p->nobj++] = (struct tobj){ .major = 1, .minor = 0, .pos = at };
	p->in_obj = true;
}

static void start_item(struct ddf *p, struct pos at, const XML_Char **atts)
{
	struct tobj *o = cur_obj(p);
	const char *id = attr(atts, "ID");
	char b[256];

	if (o->nres == o->cap) {
		size_t c = o->cap ? o->cap * 2 : 8;
		struct tres *v = realloc(o->res, c * sizeof(*v));
		if (!v) {
			oom(p);
			return;
		}
		o->res = v;
		o->cap = c;
	}
	struct tres *r = &o->res[o->nres++];
	*r = (struct tres){ .pos = at };
	p->in_res = true;

	if (!id) {
		field_error(p, at, "<Item> without an ID attribute (expected ID=\"0\"..\"65534\")");
		return;
	}
	char *t = trimmed(id, strlen(id));
	if (!t) {
		oom(p);
		return;
	}
	if (!parse_id(t, &r->d.rid)) {
		field_error(p, at, "invalid resource ID '%s' (expected an integer 0..65534)", shown(t, b));
	} else {
		r->id_ok = true;
		for (size_t i = 0; i + 1 < o->nres; i++) {
			if (o->res[i].id_ok && o->res[i].d.rid == r->d.rid) {
				field_error(p, at, "duplicate resource ID %u (first defined at line %u)",
					    (unsigned)r->d.rid, o->res[i].pos.line);
				r->id_ok = false;
				break;
			}
		}
	}
	free(t);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct ddf *p = ud;
	struct pos at = here(p);
	enum kind parent = p->depth ? p->kind[p->depth - 1] : K_IGNORE;
	enum kind k = K_IGNORE;

	if (p->stopped)
		return;
	if (p->depth >= DDF_MAX_DEPTH) {
		report(p, at, "elements nested deeper than %d levels", DDF_MAX_DEPTH);
		p->xml_error = -EBADMSG;
		stop(p);
		return;
	}

	if (p->depth == 0) {
		if (strcmp(name, "LWM2M") != 0) {
			/* Not an object definition document: nothing to load. */
			p->foreign = true;
			stop(p);
			return;
		}
		k = K_ROOT;
	} else if (parent == K_ROOT && strcmp(name, "Object") == 0) {
		const char *type = attr(atts, "ObjectType");
		if (!type || strcmp(type, "MODefinition") == 0) {
			k = K_OBJECT;
			start_object(p, at);
		}
	} else if (parent == K_OBJECT) {
		if (strcmp(name, "Resources") == 0) {
			k = K_RESOURCES;
		} else {
			p->field = lookup_field(object_fields,
						sizeof(object_fields) / sizeof(object_fields[0]), name);
			k = p->field ? K_FIELD : K_IGNORE;
		}
	} else if (parent == K_RESOURCES && strcmp(name, "Item") == 0) {
		k = K_ITEM;
		start_item(p, at, atts);
	} else if (parent == K_ITEM) {
		p->field = lookup_field(item_fields, sizeof(item_fields) / sizeof(item_fields[0]), name);
		k = p->field ? K_FIELD : K_IGNORE;
	}

	if (k == K_FIELD) {
		p->tlen = 0;
		p->tag_pos = at;
		p->have_text_pos = false;
		p->text_too_long = false;
	}
	p->kind[p->depth++] = (uint8_t)k;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct ddf *p = ud;

	if (p->stopped || !p->depth || p->kind[p->depth - 1] != K_FIELD || len <= 0)
		return;
	if (!p->have_text_pos) {
		/* Point diagnostics at the value itself, past leading blanks. */
		struct pos at = here(p);
		int i = 0;
		for (; i < len && isspace((unsigned char)s[i]); i++) {
			if (s[i] == '\n') {
				at.line++;
				at.col = 1;
			} else {
				at.col++;
			}
		}
		if (i < len) {
			p->text_pos = at;
			p->have_text_pos = true;
		}
	}
	if (p->tlen + (size_t)len > DDF_MAX_TEXT) {
		p->text_too_long = true;
		return;
	}
	if (p->tlen + (size_t)len + 1 > p->tcap) {
		size_t c = p->tcap ? p->tcap : 64;
		while (c < p->tlen + (size_t)len + 1)
			c *= 2;
		char *t = realloc(p->text, c);
		if (!t) {
			oom(p);
			return;
		}
		p->text = t;
		p->tcap = c;
	}
	memcpy(p->text + p->tlen, s, (size_t)len);
	p->tlen += (size_t)len;
}

static const char type_words[] =
	"String, Integer, Unsigned Integer, Float, Boolean, Opaque, Time, Objlnk, Corelnk, none";

static void end_field(struct ddf *p)
{
	struct tobj *o = cur_obj(p);
	struct tres *r = cur_res(p);
	struct pos at = p->have_text_pos ? p->text_pos : p->tag_pos;
	enum field f = p->field;
	uint32_t *seen = f >= F_RES_NAME ? &r->seen : &o->seen;
	char b[256];
	char *v;

	if (*seen & (1u << f)) {
		field_error(p, p->tag_pos, "duplicate <%s> element", field_tag(f));
		return;
	}
	*seen |= 1u << f;
	if (p->text_too_long) {
		field_error(p, at, "<%s> is longer than %d bytes", field_tag(f), DDF_MAX_TEXT);
		return;
	}
	v = trimmed(p->text ? p->text : "", p->tlen);
	if (!v) {
		oom(p);
		return;
	}

	switch (f) {
	case F_OBJ_NAME:
		if (!*v)
			field_error(p, at, "empty object <Name>");
		free(o->name);
		o->name = v;
		v = NULL;
		break;
	case F_OBJ_ID:
		o->oid_ok = parse_id(v, &o->oid);
		if (!o->oid_ok)
			field_error(p, at, "invalid ObjectID '%s' (expected an integer 0..65534)",
				    shown(v, b));
		break;
	case F_OBJ_VERSION:
		/* Optional in LWM2M.xsd; absent or empty means 1.0. */
		if (*v && !parse_version(v, &o->major, &o->minor))
			field_error(p, at, "invalid ObjectVersion '%s' (expected MAJOR.MINOR such as 1.0)",
				    shown(v, b));
		break;
	case F_OBJ_MULTIPLE:
	case F_RES_MULTIPLE: {
		bool multi = word_is(v, "Multiple");
		if (!multi && !word_is(v, "Single"))
			field_error(p, at, "invalid MultipleInstances '%s' (expected Single or Multiple)",
				    shown(v, b));
		else if (f == F_OBJ_MULTIPLE)
			o->flags |= multi ? LWM2M_OBJ_MULTIPLE : 0;
		else
			r->d.flags |= multi ? LWM2M_RES_MULTIPLE : 0;
		break;
	}
	case F_OBJ_MANDATORY:
	case F_RES_MANDATORY: {
		bool mand = word_is(v, "Mandatory");
		if (!mand && !word_is(v, "Optional"))
			field_error(p, at, "invalid Mandatory '%s' (expected Mandatory or Optional)",
				    shown(v, b));
		else if (f == F_OBJ_MANDATORY)
			o->flags |= mand ? LWM2M_OBJ_MANDATORY : 0;
		else
			r->d.flags |= mand ? LWM2M_RES_MANDATORY : 0;
		break;
	}
	case F_RES_NAME:
		if (!*v)
			field_error(p, at, "empty resource <Name>");
		free(r->name);
		r->name = v;
		v = NULL;
		break;
	case F_RES_OPS:
		if (!*v)
			r->d.ops = 0;
		else if (word_is(v, "R"))
			r->d.ops = LWM2M_OP_R;
		else if (word_is(v, "W"))
			r->d.ops = LWM2M_OP_W;
		else if (word_is(v, "RW"))
			r->d.ops = LWM2M_OP_R | LWM2M_OP_W;
		else if (word_is(v, "E"))
			r->d.ops = LWM2M_OP_E;
		else
			field_error(p, at, "unknown operations '%s' (expected one of R, W, RW, E, or empty)",
				    shown(v, b));
		break;
	case F_RES_TYPE: {
		enum lwm2m_type t;
		if (lwm2m_type_from_name(v, strlen(v), &t) < 0)
			field_error(p, at, "unknown resource type '%s' (expected one of %s)", shown(v, b),
				    type_words);
		else
			r->d.type = (uint8_t)t;
		break;
	}
	case F_RES_RANGE:
		if (parse_range(v, &r->d.min, &r->d.max))
			r->d.flags |= LWM2M_RES_HAS_RANGE;
		break;
	case F_RES_UNITS:
		if (*v) {
			free(r->units);
			r->units = v;
			v = NULL;
		}
		break;
	default:
		break;
	}
	free(v);
}

static void check_required(struct ddf *p, uint32_t seen, const enum field *req, size_t n, struct pos at,
			   const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (!(seen & (1u << req[i])))
			field_error(p, at, "%s without <%s>", what, field_tag(req[i]));
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct ddf *p = ud;
	enum kind k;

	(void)name;
	if (p->stopped || !p->depth)
		return;
	k = p->kind[--p->depth];
	switch (k) {
	case K_FIELD:
		end_field(p);
		break;
	case K_ITEM: {
		static const enum field req[] = { F_RES_NAME, F_RES_OPS, F_RES_MULTIPLE, F_RES_MANDATORY,
						  F_RES_TYPE };
		struct tres *r = cur_res(p);
		char what[64];
		snprintf(what, sizeof(what), "resource %u", (unsigned)r->d.rid);
		check_required(p, r->seen, req, sizeof(req) / sizeof(req[0]), r->pos, what);
		p->in_res = false;
		break;
	}
	case K_OBJECT: {
		static const enum field req[] = { F_OBJ_NAME, F_OBJ_ID, F_OBJ_MULTIPLE, F_OBJ_MANDATORY };
		struct tobj *o = cur_obj(p);
		check_required(p, o->seen, req, sizeof(req) / sizeof(req[0]), o->pos, "<Object>");
		for (size_t i = 0; o->oid_ok && i + 1 < p->nobj; i++) {
			if (p->objs[i].oid_ok && p->objs[i].oid == o->oid) {
				field_error(p, o->pos,
					    "object %u is defined twice in this file (first at line %u)",
					    (unsigned)o->oid, p->objs[i].pos.line);
				break;
			}
		}
		p->in_obj = false;
		break;
	}
	default:
		break;
	}
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	struct ddf *p = ud;

	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	if (p->stopped)
		return;
	/* expat calls this at the end of "<!DOCTYPE name ...": point at the
	 * declaration's start instead, found backwards from here. */
	struct pos at = here(p);
	XML_Index idx = XML_GetCurrentByteIndex(p->xp);
	if (idx > 0 && (size_t)idx <= p->doclen) {
		size_t i = (size_t)idx;
		while (i > 0 && !(p->doc[i - 1] == '<' && p->doclen - (i - 1) >= 9 &&
				  memcmp(p->doc + i - 1, "<!DOCTYPE", 9) == 0))
			i--;
		if (i > 0) {
			size_t start = i - 1, nl = 0, bol = start;
			for (size_t k = start; k < (size_t)idx; k++)
				nl += p->doc[k] == '\n';
			while (bol > 0 && p->doc[bol - 1] != '\n')
				bol--;
			if (at.line > nl) {
				at.line -= (unsigned)nl;
				at.col = (unsigned)(start - bol) + 1;
			}
		}
	}
	report(p, at, "DOCTYPE declarations are not accepted in DDF files");
	p->xml_error = -EBADMSG;
	stop(p);
}

static void free_tobjs(struct tobj *objs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < objs[i].nres; j++) {
			free(objs[i].res[j].name);
			free(objs[i].res[j].units);
		}
		free(objs[i].res);
		free(objs[i].name);
	}
	free(objs);
}

static int cmp_res(const void *a, const void *b)
{
	const struct tres *x = a, *y = b;
	return (x->d.rid > y->d.rid) - (x->d.rid < y->d.rid);
}

_Static_assert(sizeof(struct lwm2m_objdef) % _Alignof(struct lwm2m_resdef) == 0,
	       "resdefs follow the objdef in one block");

/* One malloc block per definition: objdef, then the resdef array, then the
 * strings; freeing the objdef pointer frees everything. */
static struct lwm2m_objdef *pack(struct tobj *o)
{
	size_t strs = strlen(o->name) + 1, size;
	struct lwm2m_objdef *d;
	struct lwm2m_resdef *res;
	char *s;

	if (o->nres)
		qsort(o->res, o->nres, sizeof(*o->res), cmp_res);
	for (size_t i = 0; i < o->nres; i++)
		strs += strlen(o->res[i].name) + 1 + (o->res[i].units ? strlen(o->res[i].units) + 1 : 0);
	size = sizeof(*d) + o->nres * sizeof(*res) + strs;
	d = malloc(size);
	if (!d)
		return NULL;
	res = (struct lwm2m_resdef *)(d + 1);
	s = (char *)(res + o->nres);

#define COPY_STR(dst, src)                   \
	do {                                 \
		size_t l_ = strlen(src) + 1; \
		memcpy(s, (src), l_);        \
		(dst) = s;                   \
		s += l_;                     \
	} while (0)

	for (size_t i = 0; i < o->nres; i++) {
		res[i] = o->res[i].d;
		COPY_STR(res[i].name, o->res[i].name);
		if (o->res[i].units)
			COPY_STR(res[i].units, o->res[i].units);
		else
			res[i].units = NULL;
	}
	*d = (struct lwm2m_objdef){
		.oid = o->oid,
		.ver_major = o->major,
		.ver_minor = o->minor,
		.flags = o->flags,
		.nres = (uint16_t)o->nres,
		.res = res,
	};
	COPY_STR(d->name, o->name);
#undef COPY_STR
	return d;
}

int lwm2m_registry_load_ddf(struct lwm2m_registry *r, const char *name, const void *xml, size_t len,
			    lwm2m_diag_fn diag, void *ctx)
{
	struct ddf p = { .file = name ? name : "<ddf>", .diag = diag, .ctx = ctx, .doc = xml, .doclen = len };
	struct lwm2m_objdef **defs = NULL;
	int ret;

	if (!r || (!xml && len > 0))
		return -EINVAL;
	if (len > DDF_MAX_SIZE) {
		report(&p, (struct pos){ 0, 0 }, "file too large (%zu bytes, limit %u)", len, DDF_MAX_SIZE);
		return -EBADMSG;
	}

	p.xp = XML_ParserCreate(NULL);
	if (!p.xp)
		return -ENOMEM;
	XML_SetUserData(p.xp, &p);
	XML_SetElementHandler(p.xp, on_start, on_end);
	XML_SetCharacterDataHandler(p.xp, on_text);
	XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
	XML_SetParamEntityParsing(p.xp, XML_PARAM_ENTITY_PARSING_NEVER);
	/* expat.h declares these only when the including code defines XML_DTD;
	 * refusing DOCTYPE above already leaves no entity to expand. */
#if defined(XML_DTD) && (XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4))
	XML_SetBillionLaughsAttackProtectionMaximumAmplification(p.xp, 10.0f);
	XML_SetBillionLaughsAttackProtectionActivationThreshold(p.xp, 1u << 20);
#endif

	if (XML_Parse(p.xp, xml ? xml : "", (int)len, XML_TRUE) == XML_STATUS_ERROR && !p.xml_error &&
	    !p.foreign && p.error != -ENOMEM) {
		enum XML_Error e = XML_GetErrorCode(p.xp);
		report(&p, here(&p), "malformed XML: %s", XML_ErrorString(e));
		p.xml_error = -EBADMSG;
	}
	XML_ParserFree(p.xp);

	if (p.foreign) {
		ret = 0;
		goto out;
	}
	if (p.error == -ENOMEM) {
		ret = -ENOMEM;
		goto out;
	}
	if (p.xml_error || p.error) {
		ret = p.xml_error ? p.xml_error : p.error;
		goto out;
	}
	if (p.nobj == 0) {
		ret = 0;
		goto out;
	}

	defs = calloc(p.nobj, sizeof(*defs));
	if (!defs) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p.nobj; i++) {
		defs[i] = pack(&p.objs[i]);
		if (!defs[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}
	ret = lwm2m_registry_commit(r, defs, p.nobj);
	if (ret >= 0) {
		free(defs); /* the registry owns the definitions now */
		defs = NULL;
	}
out:
	if (defs)
		for (size_t i = 0; i < p.nobj; i++)
			free(defs[i]);
	free(defs);
	free_tobjs(p.objs, p.nobj);
	free(p.text);
	return ret;
}

static void report_errno(lwm2m_diag_fn diag, void *ctx, const char *path, const char *what, int err)
{
	char msg[300], eb[128];

	if (!diag)
		return;
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror_r(err, eb, sizeof(eb)));
	diag(ctx, path, 0, 0, msg);
}

int lwm2m_registry_load_ddf_file(struct lwm2m_registry *r, const char *path, lwm2m_diag_fn diag, void *ctx)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t n = 0;
	int fd, ret;

	if (!r || !path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		report_errno(diag, ctx, path, "cannot open", -ret);
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		report_errno(diag, ctx, path, "cannot stat", -ret);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		if (diag)
			diag(ctx, path, 0, 0, "not a regular file");
		ret = -EINVAL;
		goto out;
	}
	/* Read at most one byte past the limit: the file may have grown since
	 * fstat, and the parser reports the size. */
	size_t cap = (size_t)st.st_size < DDF_MAX_SIZE ? (size_t)st.st_size + 1 : DDF_MAX_SIZE + 1;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, buf + n, cap - n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			report_errno(diag, ctx, path, "cannot read", -ret);
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
		if (n == cap) {
			if (cap > DDF_MAX_SIZE)
				break;
			size_t c = cap * 2 > DDF_MAX_SIZE + 1 ? DDF_MAX_SIZE + 1 : cap * 2;
			uint8_t *nb = realloc(buf, c);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = c;
		}
	}
	ret = lwm2m_registry_load_ddf(r, path, buf, n, diag, ctx);
out:
	free(buf);
	close(fd);
	return ret;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int lwm2m_registry_load_dir(struct lwm2m_registry *r, const char *dir, lwm2m_diag_fn diag, void *ctx)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int total = 0, ret = 0;

	if (!r || !dir)
		return -EINVAL;
	d = opendir(dir);
	if (!d) {
		ret = -errno;
		report_errno(diag, ctx, dir, "cannot open directory", -ret);
		return ret;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno) {
				ret = -errno;
				report_errno(diag, ctx, dir, "cannot read directory", -ret);
			}
			break;
		}
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 5 || strcmp(e->d_name + l - 4, ".xml") != 0)
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			char **v = realloc(names, c * sizeof(*v));
			if (!v) {
				ret = -ENOMEM;
				break;
			}
			names = v;
			cap = c;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);

	if (ret == 0) {
		if (n)
			qsort(names, n, sizeof(*names), cmp_names);
		for (size_t i = 0; i < n; i++) {
			int k = lwm2m_registry_load_ddf_file(r, names[i], diag, ctx);
			if (k == -ENOMEM) {
				ret = k;
				break;
			}
			if (k > 0)
				total += k;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret < 0 ? ret : total;
}
