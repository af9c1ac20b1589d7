/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/yamldoc.h — a YAML document as a small read-only tree.
 *
 * Built from libyaml's event stream (never its alias-resolving loader), so
 * every node knows where it came from: file, line and column, 1-based.
 * Deliberately a subset of YAML, the part configuration files need:
 *  - one document per file (an empty file is one null scalar at 1:1);
 *  - anchors, aliases and explicit tags are rejected (no alias bombs, no
 *    type games: a value's meaning comes from the schema);
 *  - mapping keys must be scalars and unique;
 *  - input size, nesting depth and node count are capped.
 * Every problem is reported through the diag collector with its position,
 * also what libyaml's reader rejects (invalid UTF-8, control characters):
 * its byte offset is turned into the line and column of that character.
 *
 * All nodes and strings live in one arena owned by the struct ydoc; they
 * stay valid, unchanged, until ydoc_free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/diag.h"

enum ynode_kind {
	YNODE_SCALAR = 0,
	YNODE_MAP,
	YNODE_SEQ,
};

enum yscalar_style {
	YSCALAR_PLAIN = 0,
	YSCALAR_QUOTED, /* 'single' or "double" */
	YSCALAR_BLOCK,  /* | literal or > folded */
};

struct ynode {
	uint8_t kind;  /* enum ynode_kind */
	uint8_t style; /* enum yscalar_style, scalars only */
	uint32_t line, col;
	const char *file; /* the name given to the loader */
	union {
		struct {
			const char *str; /* NUL-terminated; may also contain NUL ("\0" escape) */
			size_t len;
		} scalar;
		struct {
			const struct ynode *items; /* n nodes */
			size_t n;
		} seq;
		struct {
			const struct ynode *items; /* 2*n nodes: key, value, key, value... */
			size_t n;                  /* number of pairs */
		} map;
	};
};

struct ydoc_limits {
	size_t max_bytes;   /* input size */
	unsigned max_depth; /* nesting of mappings and sequences */
	size_t max_nodes;
};

/* 16 MiB, depth 64, 1 Mi nodes: room for 10,000 devices with many keys. */
#define YDOC_DEFAULT_LIMITS \
	((struct ydoc_limits){ .max_bytes = 16u << 20, .max_depth = 64, .max_nodes = 1u << 20 })

struct ydoc;

/* Parse len bytes of YAML. name is used in diagnostics and node->file.
 * limits may be NULL for YDOC_DEFAULT_LIMITS. On success *out owns the tree
 * and 0 is returned; on a YAML problem every problem found is reported
 * through diag (which may be NULL), *out is left NULL and -EBADMSG is
 * returned (-EFBIG over max_bytes, -ENOMEM). */
int ydoc_load_buffer(const char *name, const void *data, size_t len, const struct ydoc_limits *limits,
		     struct diag *diag, struct ydoc **out);
/* Same for a file; open/read failures are reported as "path: message" and
 * returned as the negative errno. */
int ydoc_load_file(const char *path, const struct ydoc_limits *limits, struct diag *diag, struct ydoc **out);

struct ydoc *ydoc_free(struct ydoc *doc); /* accepts NULL, returns NULL */

const struct ynode *ydoc_root(const struct ydoc *doc);
const char *ydoc_name(const struct ydoc *doc);
/* The status of the file the document was read from (its mode and owner,
 * for a loader that must not trust a secret to a file others can read);
 * NULL for a document parsed from a buffer. */
const struct stat *ydoc_file_stat(const struct ydoc *doc);
/* Replace the pair of a mapping of doc whose key node is key (as found by
 * ynode_map_key()): the key's text becomes name and the value a quoted
 * scalar of value (len bytes, copied, wiped at ydoc_free()) positioned at
 * file:line:col. What the configuration loader does for a secret read from
 * a file, `psk_key_file: /x` becoming `psk_key: <its content>` at /x:1:1,
 * so every later reader of the document finds the secret in place.
 * Returns the new value node, or NULL on OOM (the pair is then
 * unchanged). */
const struct ynode *ydoc_replace_pair(struct ydoc *doc, const struct ynode *key, const char *name,
				      const char *value, size_t len, const char *file, unsigned line,
				      unsigned col);

/* Bytes of memory the tree holds (arena), for budgets and benchmarks. */
size_t ydoc_memory(const struct ydoc *doc);

/* "a mapping", "a sequence", "a string", "an empty value" (null scalar):
 * for messages such as "must be a mapping, got a sequence". */
const char *ynode_describe(const struct ynode *n);

/* A plain scalar that YAML reads as null: empty, "~", "null", "Null", "NULL". */
bool ynode_is_null(const struct ynode *n);

/* Scalar text equality (exact bytes). */
bool ynode_scalar_eq(const struct ynode *n, const char *s);

/* Value of key in a mapping, NULL when absent or n is not a mapping. */
const struct ynode *ynode_map_get(const struct ynode *n, const char *key);

static inline const struct ynode *ynode_map_key(const struct ynode *n, size_t i)
{
	return &n->map.items[2 * i];
}

static inline const struct ynode *ynode_map_value(const struct ynode *n, size_t i)
{
	return &n->map.items[2 * i + 1];
}
