/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/schema.h — table-driven validation of YAML mappings into C structs.
 *
 * A section is a table of keys; each key names its kind (string, integer
 * with range, duration, enum, nested section, list, ...), whether it is
 * required, its default, and where the parsed value goes (offsetof into the
 * struct being filled) — the accepted keys are data, not scattered strcmp()s,
 * in the spirit of systemd's gperf tables and netifd's blobmsg policies.
 *
 * Every problem is reported, not only the first, through a struct diag as
 * "file:line:col: message", e.g.
 *   conf.yaml:4:3: unknown key 'nmae' in 'gateway', did you mean 'name'? (accepted keys: name, state_dir)
 *
 * Ownership: strings point into the YAML document (keep the struct ydoc as
 * long as the filled struct); lists are heap arrays released by
 * schema_free(). The struct to fill must be zeroed before schema_parse().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/yamldoc.h"

#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MIN  (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MIN)
#define USEC_PER_DAY  (24ULL * USEC_PER_HOUR)

/* Most keys one section may have (the parser keeps a seen-flag per key). */
#define SCHEMA_MAX_KEYS 128

enum schema_kind {
	SCHEMA_STRING = 0, /* const char * (into the document); check may validate the text */
	SCHEMA_INT,        /* int64_t in [min, max] (both 0: any) */
	SCHEMA_UINT,       /* uint64_t in [umin, umax] (umax 0: any) */
	SCHEMA_BOOL,       /* bool: true/false, yes/no, on/off */
	SCHEMA_DURATION,   /* uint64_t microseconds: "10s", "500ms", "2m", "1h30m"; [umin, umax], step */
	SCHEMA_ENUM,       /* int: .value of the matching word of .words */
	SCHEMA_SECTION,    /* mapping parsed by .section into the struct at offset */
	SCHEMA_LIST,       /* sequence into a struct schema_list; elements described by .elem */
	SCHEMA_NODE,       /* any node of .node_kind, kept as const struct ynode * for a later stage */
	SCHEMA_CUSTOM,     /* .parse does it all; .size is the target's size (for lists) */
};

struct schema_enum_word {
	const char *word;
	int value;
	bool alias; /* accepted, but not listed in messages */
};

/* Target of SCHEMA_LIST: items is an array of n elements (calloc'ed). */
struct schema_list {
	void *items;
	size_t n;
};

/* What a value is besides its parse (struct schema_key.secret): the
 * loader of a file checks that others cannot read what holds a secret. */
enum schema_secret {
	SCHEMA_PUBLIC = 0,
	SCHEMA_SECRET,      /* the value itself is a secret: a key, a password */
	SCHEMA_SECRET_FILE, /* the value names a file holding a secret: a private key */
};

struct schema_ctx;
struct schema_key;

/* Told of each secret a parse meets: present keys marked .secret (a null
 * value is not one), and what custom parsers report with schema_secret().
 * value is the scalar node; key its dotted path ("lwm2m.servers[0].psk_key"),
 * valid during the call only. */
typedef void (*schema_secret_fn)(void *ud, const struct ynode *value, const char *key,
				 enum schema_secret kind);

/* Parse or check node for key into target (the address obj + key->offset).
 * Report problems with schema_error() and return 0 or a negative errno
 * (-EINVAL after reporting, -ENOMEM). */
typedef int (*schema_parse_fn)(struct schema_ctx *ctx, const struct schema_key *key, const struct ynode *node,
			       void *target);
/* Cross-key check of a whole section, run after its keys were parsed, also
 * when some of them failed, so that independent rules still report: use
 * schema_key_ok() to skip a rule whose inputs did not parse. */
typedef int (*schema_check_fn)(struct schema_ctx *ctx, const struct ynode *map, void *obj);

struct schema_key {
	const char *name; /* NULL ends a table */
	enum schema_kind kind;
	bool required;
	size_t offset; /* where the value goes in the section's struct */

	int64_t min, max;                     /* INT */
	uint64_t umin, umax;                  /* UINT, DURATION */
	uint64_t step;                        /* DURATION: the value must be a multiple of it (0: any) */
	size_t max_len;                       /* STRING: longest accepted (0: any) */
	const struct schema_enum_word *words; /* ENUM: ends with { NULL } */
	const struct schema_section *section; /* SECTION */
	const struct schema_key *elem;        /* LIST: how each element is parsed (name unused) */
	size_t min_items, max_items;          /* LIST (max 0: any) */
	int node_kind;                        /* NODE: enum ynode_kind, or -1 for any */
	size_t size;                          /* CUSTOM: size of the target (list elements) */

	/* CUSTOM: the parser. Other kinds: an extra check run after the
	 * built-in parse succeeded (e.g. "endpoint-safe name"). */
	schema_parse_fn parse;
	void (*free)(void *target); /* CUSTOM: releases what parse allocated */

	/* Defaults for an absent key (or an explicit null on an optional
	 * one): def_int for INT and ENUM, def_uint for UINT and DURATION. */
	int64_t def_int;
	uint64_t def_uint;
	bool def_bool;
	const char *def_str;

	const char *doc; /* one line for humans (generated docs, --help-config) */
	uint8_t secret;  /* enum schema_secret */
};

struct schema_section {
	const char *name;              /* for messages when there is no path yet */
	size_t size;                   /* sizeof the struct it fills (list elements) */
	const struct schema_key *keys; /* ends with { .name = NULL } */
	schema_check_fn check;         /* may be NULL */
};

/* Passed to callbacks. path is the dotted location being parsed, such as
 * "lwm2m.servers[0].uri" ("" at the top level). */
struct schema_ctx {
	struct diag *diag;
	void *userdata;             /* from schema_parse(), for callbacks */
	unsigned errors;            /* reported by this parse */
	schema_secret_fn on_secret; /* may be NULL */
	void *secret_ud;
	size_t path_len;
	char path[512];
	/* private: the section a check callback is looking at */
	const struct schema_section *check_sec_;
	const unsigned char *check_state_;
};

/* In a section check: true when key parsed without error, or is absent
 * and not required (its default stands). */
bool schema_key_ok(const struct schema_ctx *ctx, const char *key);

/* Fill obj (zeroed, of sec->size) from node, a mapping (a null is taken as
 * an empty mapping). Returns 0 when nothing was reported, -EINVAL when
 * errors were (they went to diag), -ENOMEM. Call schema_free() on obj in
 * every case. */
int schema_parse(const struct schema_section *sec, const struct ynode *node, void *obj, struct diag *diag,
		 void *userdata);

/* schema_parse() telling on_secret (may be NULL) of every secret met. */
int schema_parse_secrets(const struct schema_section *sec, const struct ynode *node, void *obj,
			 struct diag *diag, void *userdata, schema_secret_fn on_secret, void *secret_ud);

/* Release the lists (and custom allocations) of obj; obj itself is not
 * freed. Accepts a zeroed or partially filled obj. */
void schema_free(const struct schema_section *sec, void *obj);

/* Set every key of sec to its default in obj (schema_parse() does this). */
void schema_defaults(const struct schema_section *sec, void *obj);

/* ---- for custom parsers ---------------------------------------------- */

/* Report an error (warning) at node's position; message text as given. */
void schema_error(struct schema_ctx *ctx, const struct ynode *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void schema_warning(struct schema_ctx *ctx, const struct ynode *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A custom parser found a secret at value (a scalar) for key: tells the
 * parse's on_secret. ctx may be NULL (nothing to tell). */
void schema_secret(struct schema_ctx *ctx, const struct ynode *value, const char *key,
		   enum schema_secret kind);

/* "'lwm2m.servers[0]'" or "the top level": how messages name the place. */
const char *schema_where(const struct schema_ctx *ctx, char *buf, size_t size);

/* Parse a nested section / one key at the current path; custom parsers use
 * these to choose a section by a discriminator key (e.g. a bridge type). */
int schema_parse_section(struct schema_ctx *ctx, const struct schema_section *sec, const struct ynode *node,
			 void *obj);
int schema_parse_value(struct schema_ctx *ctx, const struct schema_key *key, const struct ynode *node,
		       void *target);

/* Path bookkeeping: push returns the length to give back to pop. */
size_t schema_path_push_key(struct schema_ctx *ctx, const char *key);
size_t schema_path_push_index(struct schema_ctx *ctx, size_t index);
void schema_path_pop(struct schema_ctx *ctx, size_t len);

/* ---- strict scalar parsers (also used outside of tables) ------------- */

/* Base-10 integers only: no leading '+', blanks, or trailing bytes. -EINVAL
 * for anything else, -ERANGE when it does not fit. */
int schema_parse_int(const char *s, int64_t *out);
int schema_parse_uint(const char *s, uint64_t *out); /* "-1" is -EINVAL, never wrapped */
/* "0", or numbers each followed by a unit us, ms, s, m (or min), h, d,
 * possibly several ("1h30m"). -EINVAL, -ERANGE on overflow. */
int schema_parse_duration(const char *s, uint64_t *usec);
/* true/false, yes/no, on/off (any case). -EINVAL otherwise. */
int schema_parse_bool(const char *s, bool *out);
/* Compound form parse_duration reads back ("1h30m", "500ms", "0"). */
int schema_format_duration(uint64_t usec, char *buf, size_t size);

/* Optimal-string-alignment edit distance (a transposition costs 1),
 * ASCII case-insensitive. */
unsigned schema_edit_distance(const char *a, const char *b);
/* The candidate closest to word when it is close enough to be a likely
 * typo, else NULL. candidates ends with NULL. */
const char *schema_suggest(const char *word, const char *const *candidates);
