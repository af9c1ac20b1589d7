/* SPDX-License-Identifier: Apache-2.0 */
#include "common/yamldoc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

/* ---- arena: every node and string of a document, freed at once ---------- */

struct chunk {
	struct chunk *next;
	size_t used, size;
	_Alignas(max_align_t) unsigned char data[];
};

struct ydoc {
	struct chunk *chunks;
	size_t memory;
	struct {
		char *p;
		size_t len;
	} * wipe; /* secrets put in by ydoc_replace_pair(): zeroed at the end */
	size_t nwipe;
	const char *name;
	const struct ynode *root;
	bool from_file;
	struct stat st; /* of the file, when from_file */
};

#define CHUNK_SIZE (64u * 1024u)

static void *arena_alloc(struct ydoc *doc, size_t n)
{
	struct chunk *c = doc->chunks;
	void *p;

	n = (n + 7u) & ~(size_t)7u;
	if (n == 0)
		n = 8;
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		struct chunk *nc = malloc(sizeof(*nc) + size);
		if (!nc)
			return NULL;
		nc->used = 0;
		nc->size = size;
		doc->memory += sizeof(*nc) + size;
		/* A big block gets its own chunk behind the current one, so the
		 * space left in the current chunk is not wasted. */
		if (c && size > CHUNK_SIZE) {
			nc->next = c->next;
			c->next = nc;
		} else {
			nc->next = c;
			doc->chunks = nc;
		}
		c = nc;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

static char *arena_strndup(struct ydoc *doc, const char *s, size_t n)
{
	char *p = arena_alloc(doc, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

struct ydoc *ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return NULL;
	for (size_t i = 0; i < doc->nwipe; i++)
		explicit_bzero(doc->wipe[i].p, doc->wipe[i].len);
	free(doc->wipe);
	for (struct chunk *c = doc->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
	return NULL;
}

const struct ynode *ydoc_replace_pair(struct ydoc *doc, const struct ynode *key, const char *name,
				      const char *value, size_t len, const char *file, unsigned line,
				      unsigned col)
{
	/* The nodes are the arena's, so the document's to change. */
	struct ynode *k = (struct ynode *)key, *v = k + 1;
	char *text = arena_strndup(doc, value, len), *kname = arena_strndup(doc, name, strlen(name));
	char *fname = arena_strndup(doc, file, strlen(file));
	void *w = realloc(doc->wipe, (doc->nwipe + 1) * sizeof(*doc->wipe));

	if (w)
		doc->wipe = w;
	if (!text || !kname || !fname || !w) {
		if (text)
			explicit_bzero(text, len);
		return NULL;
	}
	doc->wipe[doc->nwipe].p = text;
	doc->wipe[doc->nwipe++].len = len;
	k->scalar.str = kname;
	k->scalar.len = strlen(kname);
	*v = (struct ynode){ .kind = YNODE_SCALAR,
			     .style = YSCALAR_QUOTED,
			     .line = line,
			     .col = col,
			     .file = fname,
			     .scalar = { .str = text, .len = len } };
	return v;
}

const struct ynode *ydoc_root(const struct ydoc *doc)
{
	return doc ? doc->root : NULL;
}

const char *ydoc_name(const struct ydoc *doc)
{
	return doc ? doc->name : NULL;
}

const struct stat *ydoc_file_stat(const struct ydoc *doc)
{
	return doc && doc->from_file ? &doc->st : NULL;
}

size_t ydoc_memory(const struct ydoc *doc)
{
	return doc ? doc->memory + sizeof(*doc) : 0;
}

/* ---- node helpers -------------------------------------------------------- */

bool ynode_is_null(const struct ynode *n)
{
	if (!n || n->kind != YNODE_SCALAR || n->style != YSCALAR_PLAIN)
		return false;
	return n->scalar.len == 0 || ynode_scalar_eq(n, "~") || ynode_scalar_eq(n, "null") ||
	       ynode_scalar_eq(n, "Null") || ynode_scalar_eq(n, "NULL");
}

bool ynode_scalar_eq(const struct ynode *n, const char *s)
{
	size_t l = strlen(s);
	return n && n->kind == YNODE_SCALAR && n->scalar.len == l && memcmp(n->scalar.str, s, l) == 0;
}

const char *ynode_describe(const struct ynode *n)
{
	if (!n)
		return "nothing";
	switch (n->kind) {
	case YNODE_MAP:
		return "a mapping";
	case YNODE_SEQ:
		return "a sequence";
	default:
		return ynode_is_null(n) ? "an empty value" : "a scalar";
	}
}

const struct ynode *ynode_map_get(const struct ynode *n, const char *key)
{
	if (!n || n->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < n->map.n; i++)
		if (ynode_scalar_eq(ynode_map_key(n, i), key))
			return ynode_map_value(n, i);
	return NULL;
}

/* ---- builder -------------------------------------------------------------- */

struct frame {
	struct ynode node;   /* the container being built */
	struct ynode *items; /* children so far (by value; moved to the arena at the end) */
	size_t n, cap;
};

struct builder {
	struct ydoc *doc;
	struct diag *diag;
	struct ydoc_limits lim;
	struct frame *stack;
	unsigned depth; /* frames in use */
	size_t nodes;
	unsigned documents;
	bool have_root;
	struct ynode root;
	unsigned errors; /* problems reported that do not stop parsing */
};

static void report(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list ap;

	b->errors++;
	va_start(ap, fmt);
	diag_reportv(b->diag, DIAG_ERROR, b->doc->name, m ? (unsigned)m->line + 1 : 0,
		     m ? (unsigned)m->column + 1 : 0, fmt, ap);
	va_end(ap);
}

static void set_pos(struct builder *b, struct ynode *n, const yaml_mark_t *m)
{
	n->file = b->doc->name;
	n->line = (uint32_t)(m->line + 1);
	n->col = (uint32_t)(m->column + 1);
}

/* Append a finished node to the container on top of the stack, or make it
 * the root. */
static int add_node(struct builder *b, const struct ynode *n)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = *n;
		b->have_root = true;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		struct ynode *items = realloc(f->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		f->items = items;
		f->cap = cap;
	}
	f->items[f->n++] = *n;
	return 0;
}

static int count_node(struct builder *b, const yaml_mark_t *m)
{
	if (++b->nodes > b->lim.max_nodes) {
		report(b, m, "document has more than %zu nodes", b->lim.max_nodes);
		return -EBADMSG;
	}
	return 0;
}

/* Anchors and tags are reported but parsing goes on (the node is used as if
 * they were absent), so one run finds every such problem. */
static void check_anchor_tag(struct builder *b, const yaml_mark_t *m, const yaml_char_t *anchor,
			     const yaml_char_t *tag)
{
	if (anchor)
		report(b, m, "YAML anchors are not supported (anchor '&%s')", (const char *)anchor);
	if (tag)
		report(b, m, "YAML tags are not supported (tag '%s')", (const char *)tag);
}

static int key_cmp(const struct ynode *a, const struct ynode *b)
{
	size_t l = a->scalar.len < b->scalar.len ? a->scalar.len : b->scalar.len;
	int c = memcmp(a->scalar.str, b->scalar.str, l);
	if (c != 0)
		return c;
	return (a->scalar.len > b->scalar.len) - (a->scalar.len < b->scalar.len);
}

static int pair_cmp(const void *pa, const void *pb)
{
	const struct ynode *a = *(const struct ynode *const *)pa, *b = *(const struct ynode *const *)pb;
	int c = key_cmp(a, b);
	if (c != 0)
		return c;
	/* Same key: document order, so the first definition comes first. */
	return (a > b) - (a < b);
}

static void report_dup(struct builder *b, const struct ynode *first, const struct ynode *dup)
{
	b->errors++;
	diag_report(b->diag, DIAG_ERROR, dup->file, dup->line, dup->col,
		    "duplicate key '%s' (first defined at line %u, column %u)", dup->scalar.str, first->line,
		    first->col);
}

/* Keys must be scalars and unique. Small mappings are checked pairwise; big
 * ones (a device table keyed by name) through a sort, to stay O(n log n). */
static int check_keys(struct builder *b, const struct ynode *items, size_t npairs)
{
	size_t nscalar = 0;

	for (size_t i = 0; i < npairs; i++) {
		const struct ynode *k = &items[2 * i];
		if (k->kind != YNODE_SCALAR) {
			b->errors++;
			diag_report(b->diag, DIAG_ERROR, k->file, k->line, k->col,
				    "mapping keys must be scalars, got %s", ynode_describe(k));
		} else {
			nscalar++;
		}
	}
	if (nscalar < 2)
		return 0;
	if (npairs <= 16) {
		for (size_t i = 1; i < npairs; i++) {
			const struct ynode *k = &items[2 * i];
			if (k->kind != YNODE_SCALAR)
				continue;
			for (size_t j = 0; j < i; j++) {
				const struct ynode *p = &items[2 * j];
				if (p->kind == YNODE_SCALAR && key_cmp(p, k) == 0) {
					report_dup(b, p, k);
					break;
				}
			}
		}
		return 0;
	}

	const struct ynode **v = malloc(nscalar * sizeof(*v));
	size_t n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < npairs; i++)
		if (items[2 * i].kind == YNODE_SCALAR)
			v[n++] = &items[2 * i];
	qsort(v, n, sizeof(*v), pair_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (key_cmp(v[first], v[i]) == 0)
			report_dup(b, v[first], v[i]);
		else
			first = i;
	}
	free(v);
	return 0;
}

static int push(struct builder *b, enum ynode_kind kind, const yaml_mark_t *m)
{
	struct frame *f;

	if (b->depth >= b->lim.max_depth) {
		report(b, m, "nesting deeper than %u levels", b->lim.max_depth);
		return -EBADMSG;
	}
	f = &b->stack[b->depth++];
	memset(f, 0, sizeof(*f));
	f->node.kind = (uint8_t)kind;
	set_pos(b, &f->node, m);
	return 0;
}

static int pop(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	struct ynode n = f->node;
	struct ynode *items = NULL;
	int r;

	if (f->n > 0) {
		items = arena_alloc(b->doc, f->n * sizeof(*items));
		if (!items) {
			free(f->items);
			return -ENOMEM;
		}
		memcpy(items, f->items, f->n * sizeof(*items));
	}
	free(f->items);
	f->items = NULL;

	if (n.kind == YNODE_MAP) {
		n.map.items = items;
		n.map.n = f->n / 2;
		r = check_keys(b, items, n.map.n);
		if (r < 0)
			return r;
	} else {
		n.seq.items = items;
		n.seq.n = f->n;
	}
	return add_node(b, &n);
}

static int handle_event(struct builder *b, const yaml_event_t *e)
{
	struct ynode n = { 0 };
	int r;

	switch (e->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_END_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++b->documents > 1) {
			report(b, &e->start_mark, "only one YAML document per file is supported");
			return -EBADMSG;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		report(b, &e->start_mark, "YAML aliases are not supported (alias '*%s')",
		       (const char *)e->data.alias.anchor);
		/* Stand in a null scalar so the surrounding structure stays
		 * consistent and later problems are still found. */
		r = count_node(b, &e->start_mark);
		if (r < 0)
			return r;
		n.kind = YNODE_SCALAR;
		set_pos(b, &n, &e->start_mark);
		n.scalar.str = "";
		return add_node(b, &n);
	case YAML_SCALAR_EVENT:
		r = count_node(b, &e->start_mark);
		if (r < 0)
			return r;
		check_anchor_tag(b, &e->start_mark, e->data.scalar.anchor, e->data.scalar.tag);
		n.kind = YNODE_SCALAR;
		switch (e->data.scalar.style) {
		case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
			n.style = YSCALAR_QUOTED;
			break;
		case YAML_LITERAL_SCALAR_STYLE:
		case YAML_FOLDED_SCALAR_STYLE:
			n.style = YSCALAR_BLOCK;
			break;
		default:
			n.style = YSCALAR_PLAIN;
		}
		set_pos(b, &n, &e->start_mark);
		n.scalar.len = e->data.scalar.length;
		n.scalar.str =
			arena_strndup(b->doc, (const char *)e->data.scalar.value, e->data.scalar.length);
		if (!n.scalar.str)
			return -ENOMEM;
		return add_node(b, &n);
	case YAML_SEQUENCE_START_EVENT:
		r = count_node(b, &e->start_mark);
		if (r < 0)
			return r;
		check_anchor_tag(b, &e->start_mark, e->data.sequence_start.anchor,
				 e->data.sequence_start.tag);
		return push(b, YNODE_SEQ, &e->start_mark);
	case YAML_MAPPING_START_EVENT:
		r = count_node(b, &e->start_mark);
		if (r < 0)
			return r;
		check_anchor_tag(b, &e->start_mark, e->data.mapping_start.anchor, e->data.mapping_start.tag);
		return push(b, YNODE_MAP, &e->start_mark);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth == 0)
			return -EBADMSG; /* libyaml never does this */
		return pop(b);
	}
	return 0;
}

/* Decode the character at buf[i] as libyaml's reader does: its code point
 * and width in bytes; width 0 when it does not fit before end. */
static size_t decode_char(const unsigned char *buf, size_t i, size_t end, yaml_encoding_t enc, unsigned *cp)
{
	if (enc == YAML_UTF16LE_ENCODING || enc == YAML_UTF16BE_ENCODING) {
		int lo = enc == YAML_UTF16LE_ENCODING ? 0 : 1;
		unsigned u;
		if (end - i < 2)
			return 0;
		u = buf[i + lo] | (unsigned)buf[i + 1 - lo] << 8;
		*cp = u;
		/* A surrogate pair is one character (never a line break). */
		return (u & 0xFC00) == 0xD800 ? (end - i < 4 ? 0 : 4) : 2;
	}
	unsigned char o = buf[i];
	size_t w = (o & 0x80) == 0      ? 1
		   : (o & 0xE0) == 0xC0 ? 2
		   : (o & 0xF0) == 0xE0 ? 3
		   : (o & 0xF8) == 0xF0 ? 4
					: 1;
	if (w > end - i)
		return 0;
	*cp = w == 1   ? o
	      : w == 2 ? (o & 0x1Fu) << 6 | (buf[i + 1] & 0x3Fu)
	      : w == 3 ? (o & 0x0Fu) << 12 | (buf[i + 1] & 0x3Fu) << 6 | (buf[i + 2] & 0x3Fu)
		       : 0x10000; /* 4 bytes: not a break, its value does not matter */
	return w;
}

/* libyaml's reader errors know only the byte offset of what could not be
 * decoded. Line and column as its scanner counts them for every other
 * error (1-based, in characters; CR LF, CR, LF, NEL, LS and PS end a line),
 * of the character that holds the offset. */
static void offset_position(const unsigned char *buf, size_t len, yaml_encoding_t enc, size_t off,
			    unsigned *line, unsigned *col)
{
	size_t i = 0;

	*line = 1;
	*col = 1;
	if (off > len)
		off = len;
	/* The byte order mark is not a character of the first line. */
	if (enc == YAML_UTF8_ENCODING && len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	else if (enc == YAML_UTF16LE_ENCODING || enc == YAML_UTF16BE_ENCODING)
		i = 2;
	while (i < off) {
		unsigned cp = 0;
		size_t w = decode_char(buf, i, len, enc, &cp);
		if (w == 0 || i + w > off)
			break; /* the offset is inside this character */
		i += w;
		if (cp == '\r' && i < off) {
			unsigned next = 0;
			size_t w2 = decode_char(buf, i, len, enc, &next);
			if (w2 && next == '\n')
				i += w2;
		}
		if (cp == '\r' || cp == '\n' || cp == 0x85 || cp == 0x2028 || cp == 0x2029) {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void report_reader_error(struct builder *b, const yaml_parser_t *p, const void *data, size_t len)
{
	const char *problem = p->problem ? p->problem : "cannot read the input";
	char what[32] = "";
	unsigned line, col;

	offset_position(data, len, p->encoding, p->problem_offset, &line, &col);
	/* The value is a byte for UTF-8 octet problems, a code point else. */
	if (p->problem_value >= 0 && strstr(problem, "octet"))
		snprintf(what, sizeof(what), " (byte 0x%02X)", (unsigned)p->problem_value);
	else if (p->problem_value >= 0)
		snprintf(what, sizeof(what), " (U+%04X)", (unsigned)p->problem_value);
	b->errors++;
	diag_report(b->diag, DIAG_ERROR, b->doc->name, line, col,
		    "YAML error: %s%s; expected UTF-8 text (or UTF-16 with a byte order mark) of "
		    "printable characters, tabs and line breaks",
		    problem, what);
}

static void report_parser_error(struct builder *b, const yaml_parser_t *p, const void *data, size_t len)
{
	const yaml_mark_t *m = &p->problem_mark;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_READER_ERROR) {
		report_reader_error(b, p, data, len);
		return;
	}
	if (p->context)
		report(b, m, "YAML syntax error: %s (%s at line %zu, column %zu)", problem, p->context,
		       p->context_mark.line + 1, p->context_mark.column + 1);
	else
		report(b, m, "YAML syntax error: %s", problem);
}

int ydoc_load_buffer(const char *name, const void *data, size_t len, const struct ydoc_limits *limits,
		     struct diag *diag, struct ydoc **out)
{
	struct builder b = { .diag = diag };
	yaml_parser_t parser;
	struct ynode *root;
	int r = 0;

	*out = NULL;
	b.lim = limits ? *limits : YDOC_DEFAULT_LIMITS;
	if (!name)
		name = "<input>";
	if (len > b.lim.max_bytes) {
		diag_report(diag, DIAG_ERROR, name, 0, 0, "file is larger than %zu bytes", b.lim.max_bytes);
		return -EFBIG;
	}

	b.doc = calloc(1, sizeof(*b.doc));
	if (!b.doc)
		return -ENOMEM;
	b.doc->name = arena_strndup(b.doc, name, strlen(name));
	b.stack = calloc(b.lim.max_depth ? b.lim.max_depth : 1, sizeof(*b.stack));
	if (!b.doc->name || !b.stack) {
		free(b.stack);
		ydoc_free(b.doc);
		return -ENOMEM;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(b.stack);
		ydoc_free(b.doc);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, data ? data : (const void *)"", len);

	for (;;) {
		yaml_event_t e;
		bool end;

		if (!yaml_parser_parse(&parser, &e)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				r = -ENOMEM;
			} else {
				report_parser_error(&b, &parser, data, data ? len : 0);
				r = -EBADMSG;
			}
			break;
		}
		end = e.type == YAML_STREAM_END_EVENT;
		r = handle_event(&b, &e);
		yaml_event_delete(&e);
		if (r < 0 || end)
			break;
	}
	yaml_parser_delete(&parser);

	while (b.depth > 0)
		free(b.stack[--b.depth].items);
	free(b.stack);

	if (r == 0 && b.errors > 0)
		r = -EBADMSG;
	if (r < 0) {
		ydoc_free(b.doc);
		return r;
	}

	root = arena_alloc(b.doc, sizeof(*root));
	if (!root) {
		ydoc_free(b.doc);
		return -ENOMEM;
	}
	if (b.have_root) {
		*root = b.root;
	} else {
		/* Empty file or only comments: a null at 1:1. */
		*root = (struct ynode){ .kind = YNODE_SCALAR, .line = 1, .col = 1, .file = b.doc->name };
		root->scalar.str = "";
	}
	b.doc->root = root;
	*out = b.doc;
	return 0;
}

int ydoc_load_file(const char *path, const struct ydoc_limits *limits, struct diag *diag, struct ydoc **out)
{
	size_t max = limits ? limits->max_bytes : YDOC_DEFAULT_LIMITS.max_bytes;
	size_t len = 0, cap = 0;
	char *buf = NULL;
	struct stat st;
	int fd, r;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		diag_report(diag, DIAG_ERROR, path, 0, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		diag_report(diag, DIAG_ERROR, path, 0, 0, "cannot stat: %s", strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		diag_report(diag, DIAG_ERROR, path, 0, 0, "is a directory, not a YAML file");
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		r = -EFBIG;
		diag_report(diag, DIAG_ERROR, path, 0, 0, "file is larger than %zu bytes", max);
		goto out;
	}
	/* Read to EOF rather than trusting st_size (pipes, /proc, a file
	 * growing under us), never past max + 1 bytes. */
	for (;;) {
		ssize_t n;
		if (len == cap) {
			size_t ncap =
				cap ? cap * 2
				    : (S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096);
			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= len) {
				r = -EFBIG;
				diag_report(diag, DIAG_ERROR, path, 0, 0, "file is larger than %zu bytes",
					    max);
				goto out;
			}
			char *nb = realloc(buf, ncap);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			diag_report(diag, DIAG_ERROR, path, 0, 0, "cannot read: %s", strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = ydoc_load_buffer(path, buf, len, limits, diag, out);
	if (r == 0) {
		(*out)->from_file = true;
		(*out)->st = st;
	}
out:
	free(buf);
	close(fd);
	return r;
}
