/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mappings/mapping.h — profiles (mapping files) and the value transforms.
 *
 * A profile describes a device TYPE: the LwM2M object instances it exposes
 * and, for each resource, where its value comes from (a constant, a value of
 * the device's configuration, or a bridge-specific field source) and how the
 * raw field value becomes the LwM2M value (the transform), plus the inverse
 * for writes. Profiles are YAML files found by name (<name>.yaml) along a
 * search path, loaded once into a struct mapping_set and shared, read-only,
 * by every device that uses them: a device refers to its profile, never
 * copies it.
 *
 * The engine validates everything that does not depend on a bridge (keys,
 * resource ids, types and operations against the object registry, the
 * transform) and hands each `source:`, `write:` and `execute:` node to the
 * source parser registered for the profile's bridge kind (struct
 * mapping_source_ops). Every problem is reported through a struct diag as
 * "file:line:col: message"; loading reports all of them, not the first.
 *
 * Transforms are pure functions of (transform, sample): no allocation, no
 * global state; byte values of a decoded lwm2m_value point into the sample
 * or into the profile. The file format is documented key by key in
 * mappings/profiles/example.yaml; notes for bridge authors and the decisions
 * taken are in mappings/README.md.
 *
 * Error convention of decode/encode (negative errno):
 *   -EBADMSG  the sample does not have the layout (too short, not a number)
 *   -ERANGE   a value that does not fit (raw type, min/max, DDF range, NaN,
 *             a non-integral raw value without `round`)
 *   -ENOENT   an enum map has no entry for the value
 *   -EINVAL   the sample's kind or type cannot become the resource's type
 *   -EPERM    encode on a point that is not writable
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/diag.h"
#include "common/yamldoc.h"
#include "lwm2m/lwm2m.h"

/* ---- raw layouts ---------------------------------------------------------- */

enum mapping_raw {
	MAPPING_RAW_VALUE = 0, /* the bridge delivers a typed value (JSON, text): no byte layout */
	MAPPING_RAW_INT8,
	MAPPING_RAW_UINT8,
	MAPPING_RAW_INT16,
	MAPPING_RAW_UINT16,
	MAPPING_RAW_INT24,
	MAPPING_RAW_UINT24,
	MAPPING_RAW_INT32,
	MAPPING_RAW_UINT32,
	MAPPING_RAW_INT64,
	MAPPING_RAW_UINT64,
	MAPPING_RAW_FLOAT32,
	MAPPING_RAW_FLOAT64,
	MAPPING_RAW_STRING, /* bytes; trailing NUL padding trimmed, embedded NULs kept */
	MAPPING_RAW_BITS,   /* an unsigned word of `width` bits; `bits` bits from `bit` */
	MAPPING_RAW__MAX,
};

/* YAML spelling ("int16", "float32", "string", "bits", "value"); NULL if out of range. */
const char *mapping_raw_name(enum mapping_raw r);
/* Size in bytes of a fixed layout (2 for int16, width/8 for bits), 0 for
 * VALUE and STRING (see struct mapping_transform.length). */
size_t mapping_raw_size(enum mapping_raw r, unsigned width);

/*
 * Byte and word order, the Modbus convention. Letters name the bytes of the
 * value from the most significant (A) down; the word lists them in the order
 * they appear in the sample (on the wire, register after register):
 *   ABCD  big endian: 32-bit 0x11223344 is 11 22 33 44, 16-bit is 11 22
 *   BADC  bytes swapped within each 16-bit word: 22 11 44 33
 *   CDAB  16-bit words in reverse order, each big endian: 33 44 11 22
 *   DCBA  little endian: 44 33 22 11
 * For 16-bit values ABCD = CDAB (big) and BADC = DCBA (little). For 64-bit
 * values the same rules extend to 8 bytes: CDAB reverses the four 16-bit
 * words (GH EF CD AB), BADC swaps the bytes inside each word. For 8-bit
 * values order is irrelevant; 24-bit values accept ABCD and DCBA only.
 * YAML also accepts "big" (ABCD) and "little" (DCBA).
 */
enum mapping_order {
	MAPPING_ORDER_ABCD = 0,
	MAPPING_ORDER_BADC,
	MAPPING_ORDER_CDAB,
	MAPPING_ORDER_DCBA,
};

/* Rounding of a non-integral value into an integer raw type (encode) or an
 * integer resource (decode of a scaled or float raw value). NONE: -ERANGE.
 * With raw `value` (a typed field) and a scale, encode rounds the field's
 * number to an integer when a rounding is set (brightness 0..254 written
 * from a Dimmer %), and leaves it as computed when none is. */
enum mapping_round {
	MAPPING_ROUND_NONE = 0,
	MAPPING_ROUND_NEAREST, /* half away from zero */
	MAPPING_ROUND_FLOOR,
	MAPPING_ROUND_CEIL,
	MAPPING_ROUND_TRUNC,
};

struct mapping_enum_entry {
	struct lwm2m_value raw; /* INTEGER/UNSIGNED (numeric raw) or STRING (string/value raw) */
	struct lwm2m_value val; /* of the resource's type */
};

/*
 * A transform: raw layout -> number/string/bool -> scale/offset -> enum /
 * boolean words -> min/max -> the resource's LwM2M type. Filled by the
 * loader; tests and bridges may also fill one directly (zero is "typed
 * value, identity").
 */
struct mapping_transform {
	uint8_t raw;     /* enum mapping_raw */
	uint8_t order;   /* enum mapping_order */
	uint8_t round;   /* enum mapping_round */
	uint8_t width;   /* BITS: 8, 16, 32 or 64 (0 = 16) */
	uint8_t bit;     /* bit extraction, index of the lowest bit taken (LSB = 0) */
	uint8_t bits;    /* number of bits taken; 0 = no extraction (BITS: 0 means 1) */
	uint32_t length; /* STRING: exact byte length expected (0 = the whole sample) */

	bool has_scale;       /* scale/offset given and not the identity */
	double scale, offset; /* decode: v * scale + offset */
	uint64_t scale_div;   /* when scale is exactly 1/N: divide by N (correctly rounded) */

	bool has_min, has_max; /* checked on the LwM2M-side value, both directions */
	double min, max;

	const struct mapping_enum_entry *enums; /* NULL when no enum map */
	size_t nenums;

	/* Words for Boolean from strings; NULL: true/false, on/off, yes/no, 1/0
	 * (any case). Encode uses the first word of each list. */
	const char *const *true_words, *const *false_words;
	size_t ntrue, nfalse;
};

/* ---- samples --------------------------------------------------------------- */

enum mapping_sample_kind {
	MAPPING_SAMPLE_BYTES = 0, /* bytes, decoded by the raw layout */
	MAPPING_SAMPLE_VALUE,     /* a typed value (raw VALUE): INTEGER, UNSIGNED, FLOAT, BOOLEAN, STRING */
};

/* What a bridge read from the field, or what encode produced for a write. */
struct mapping_sample {
	uint8_t kind; /* enum mapping_sample_kind */
	const uint8_t *bytes;
	size_t len;
	struct lwm2m_value value;
};

/* Decode a sample through xf into a value of type `to` (the resource's type).
 * Byte values of *out point into the sample or into xf's tables. On error
 * *out is unchanged (see the error convention above). */
int mapping_transform_decode(const struct mapping_transform *xf, enum lwm2m_type to,
			     const struct mapping_sample *in, struct lwm2m_value *out);

/* Inverse: a value of the resource's type (or convertible to it, with
 * lwm2m_value_convert) -> a sample. Bytes layouts are written to buf (cap
 * bytes; -ENOBUFS when too small) and out->bytes points to buf; a VALUE
 * sample may point into `in` or xf's tables. Ranges are checked: a value
 * that does not fit the raw type, is outside min/max, or needs rounding that
 * is not configured is -ERANGE; an enum value without entry -ENOENT.
 * Bit fields come back at their bit position with the other bits 0: the
 * bridge merges them (read-modify-write or a masked write). float32 takes
 * the nearest binary32 value; an integral raw value whose decode gives back
 * exactly the written value is accepted (0.3 with scale 0.1 -> 3). */
int mapping_transform_encode(const struct mapping_transform *xf, enum lwm2m_type from,
			     const struct lwm2m_value *in, uint8_t *buf, size_t cap,
			     struct mapping_sample *out);

/* Byte-level helpers (exposed for bridges and tests): read / write an
 * unsigned integer of size bytes (1, 2, 3, 4 or 8) in the given order.
 * -EINVAL for an order the size does not accept. */
int mapping_get_uint(const uint8_t *p, size_t size, enum mapping_order order, uint64_t *out);
int mapping_put_uint(uint8_t *p, size_t size, enum mapping_order order, uint64_t v);

/* ---- bridge source parsers ------------------------------------------------- */

enum mapping_role {
	MAPPING_ROLE_READ = 0, /* `source:` — where a value is read from */
	MAPPING_ROLE_WRITE,    /* `write:` — where a written value goes; node NULL for `writable: true` */
	MAPPING_ROLE_EXECUTE,  /* `execute:` — the action of an Execute */
};

struct mapping_point;

/*
 * One bridge kind's parser of its own part of a profile. A table of these
 * (const, NULL-terminated array of pointers) is given to mapping_set_new();
 * the bridges provide theirs (issues 5-7), tests a fixture.
 */
struct mapping_source_ops {
	const char *kind; /* the profile's `bridge:` word: "modbus", "mqtt", "ble" */
	/* Parse node (for ROLE_WRITE possibly NULL: write back to the read
	 * source) into *out (may stay NULL). Report every problem with
	 * diag_report(diag, DIAG_ERROR, node->file, node->line, node->col, ...)
	 * and return -EINVAL after reporting, -ENOMEM; 0 on success. */
	int (*parse)(enum mapping_role role, const struct ynode *node, struct diag *diag, void **out);
	/* Release what parse stored in *out; called with NULL too. */
	void (*free)(void *src);
	/* Optional: a cross-check of a complete point (source against the
	 * transform: e.g. a float32 in a coil). Report and return -EINVAL. */
	int (*check)(const struct mapping_point *pt, struct diag *diag);
	/* What a profile's `generate:` may name for this kind (NULL-terminated,
	 * NULL: nothing): the bridge reads what a device says about itself
	 * and gives it a profile made of that (bridges/bridge.h generate). */
	const char *const *generators;
	/* Optional: a profile's `firmware: what` gives its devices the
	 * Firmware Update object /5/0, whose state machine the bridge kind
	 * runs against the field's own update mechanism (zigbee2mqtt's OTA).
	 * The engine declares the resources (5/0/0 Package, 1 Package URI,
	 * 2 Update, 3 State, 5 Update Result, 7 PkgVersion, 9 Delivery
	 * Method 0 = pull, 10 Cancel) and asks this for the source of each
	 * (role READ for 3, 5 and 7; WRITE for 0 and 1; EXECUTE for 2 and
	 * 10): 0 and *out, -EINVAL with the reason in why (a what the kind
	 * does not know: say what it accepts), -ENOMEM. NULL: the kind
	 * updates no firmware and a profile that asks is refused. */
	int (*firmware)(const char *what, enum mapping_role role, uint16_t rid, void **out, char *why,
			size_t why_size);
};

/* ---- profiles ---------------------------------------------------------- */

enum mapping_value_from {
	MAPPING_FROM_NONE = 0, /* declared; the application sets the value */
	MAPPING_FROM_CONST,    /* `const:` */
	MAPPING_FROM_DEVICE,   /* `device: <var>`: from the device's configuration */
	MAPPING_FROM_SOURCE,   /* `source:` of the profile's bridge kind */
};

/* One resource (or resource instance) of a profile. Immutable after load;
 * shared by every device of the profile. */
struct mapping_point {
	struct lwm2m_path path;               /* len 3 (resource) or 4 (resource instance) */
	const struct lwm2m_resdef *def;       /* from the registry */
	uint8_t type;                         /* enum lwm2m_type: def->type */
	uint8_t from;                         /* enum mapping_value_from */
	struct lwm2m_value constant;          /* FROM_CONST, of `type`; bytes live in the profile */
	const char *device_var;               /* FROM_DEVICE: variable name ("serial") */
	const struct mapping_source_ops *ops; /* the bridge kind (NULL without sources) */
	void *source;                         /* FROM_SOURCE: ops->parse(READ) result */
	bool writable;                        /* `writable: true` or `write:` */
	void *write;                          /* ops->parse(WRITE) result (may be NULL) */
	bool executable;                      /* `execute:` */
	void *execute;                        /* ops->parse(EXECUTE) result */
	struct mapping_transform xf;
	uint64_t poll_usec;    /* 0: the device's default period */
	uint64_t max_age_usec; /* 0: no max_age */
	bool historical;       /* `historical: true`: every sample is kept for the server */
	const char *unit;      /* `unit:` or the DDF unit, may be NULL */
	/* Where the resource was defined (for bridges' diagnostics). */
	const char *file;
	unsigned line, col;
};

/* Threads: a mapping_set caches lazily, so its functions belong to one
 * thread (the main loop); loaded profiles and points are immutable and may be
 * read, decoded and encoded from any thread while the set lives. */
struct mapping_profile; /* opaque, owned by its mapping_set */
struct mapping_set;     /* the loaded profiles, shared */

/* Default search path, ':'-separated. */
#define MAPPING_DEFAULT_PATH "/etc/fieldgate/profiles:/usr/share/fieldgate/profiles"

/* A set of profiles checked against reg (which must outlive the set).
 * kinds: NULL-terminated array of source parsers (may be NULL: only
 * constant profiles load). search_path: ':'-separated directories, NULL for
 * MAPPING_DEFAULT_PATH. Returns NULL on OOM. */
struct mapping_set *mapping_set_new(const struct lwm2m_registry *reg,
				    const struct mapping_source_ops *const *kinds, const char *search_path);
/* Frees every profile of the set (points, sources through ops->free). */
struct mapping_set *mapping_set_free(struct mapping_set *set);
const char *mapping_set_search_path(const struct mapping_set *set);

/* The profile called name: loaded from the first <name>.yaml on the search
 * path at the first request, then cached (also a failure: its errors are
 * reported once, later requests return the same errno quietly). at, when not
 * NULL, is where the name was written (a device's `profile:` value): an
 * unknown name is reported there with the search path and a "did you mean".
 * Returns 0 and *out (owned by the set), -ENOENT (unknown), -EINVAL (invalid
 * profile; errors reported), -ELOOP (include cycle), -ENOMEM. */
int mapping_set_get(struct mapping_set *set, const char *name, const struct ynode *at, struct diag *diag,
		    const struct mapping_profile **out);

/* Load a profile from a buffer / a file under the given name (the name
 * other profiles include it by, and the name of later mapping_set_get()).
 * Includes are resolved in the set first, then on the search path.
 * -EEXIST when the set already has that name. Same returns as above. */
int mapping_set_load_buffer(struct mapping_set *set, const char *name, const char *file, const void *data,
			    size_t len, struct diag *diag, const struct mapping_profile **out);
int mapping_set_load_file(struct mapping_set *set, const char *name, const char *path, struct diag *diag,
			  const struct mapping_profile **out);

/* Number of profiles loaded (successfully) in the set. */
size_t mapping_set_count(const struct mapping_set *set);

const char *mapping_profile_name(const struct mapping_profile *p);
const char *mapping_profile_file(const struct mapping_profile *p);
const char *mapping_profile_description(const struct mapping_profile *p); /* may be NULL */
/* `generate:` — the bridge generates the real profile of a device of this
 * one from what the device says about itself (e.g. "sunspec"); this
 * profile holds its objects until then. NULL for an ordinary profile. */
const char *mapping_profile_generate(const struct mapping_profile *p);
/* `firmware:` — the bridge kind runs the device's Firmware Update object
 * /5/0 (mapping_source_ops.firmware). NULL for none. */
const char *mapping_profile_firmware(const struct mapping_profile *p);
/* The bridge kind of the profile's sources, NULL for a constants-only profile. */
const char *mapping_profile_bridge(const struct mapping_profile *p);
/* Profile-wide defaults (`defaults: poll / max_age`), 0 when not given;
 * already applied to the points. */
uint64_t mapping_profile_poll_usec(const struct mapping_profile *p);
uint64_t mapping_profile_max_age_usec(const struct mapping_profile *p);

/* Points, sorted by path, includes resolved. */
size_t mapping_profile_npoints(const struct mapping_profile *p);
const struct mapping_point *mapping_profile_point(const struct mapping_profile *p, size_t i);
/* The point at path (len 3 or 4), NULL when the profile does not map it. */
const struct mapping_point *mapping_profile_find(const struct mapping_profile *p,
						 const struct lwm2m_path *path);

/* Object instances the profile declares (also those without resources). */
size_t mapping_profile_ninstances(const struct mapping_profile *p);
struct lwm2m_path mapping_profile_instance(const struct mapping_profile *p, size_t i); /* len 2 */

/* ---- devices ------------------------------------------------------------------ */

/* Value of a device variable (FROM_DEVICE points), e.g. "serial": the
 * NUL-terminated text, or NULL when the device does not define it. */
typedef const char *(*mapping_var_fn)(void *ctx, const char *name);

/* Create the profile's object instances in store and set its constants and
 * device variables (text converted to the resource type). var may be NULL
 * (device points are then left unset). Instances already present are kept.
 * String/opaque constants are borrowed, not copied (lwm2m_store_set_borrowed):
 * p must outlive store's values of them.
 * Returns 0, -ENOENT (a variable the device lacks: nothing else is undone),
 * -EINVAL/-ERANGE (a variable's text does not fit the type), -ENOMEM, or
 * the store's errno. */
int mapping_instantiate(const struct mapping_profile *p, struct lwm2m_store *store, mapping_var_fn var,
			void *ctx);

/* Decode a bridge sample of pt into the resource value (pt->xf, pt->type,
 * DDF range). Same contract as mapping_transform_decode(). */
int mapping_decode(const struct mapping_point *pt, const struct mapping_sample *in, struct lwm2m_value *out);

/* Encode an LwM2M Write value for pt: -EPERM when pt is not writable, else
 * as mapping_transform_encode() (the DDF range is checked too). */
int mapping_encode(const struct mapping_point *pt, const struct lwm2m_value *in, uint8_t *buf, size_t cap,
		   struct mapping_sample *out);

/* Parse a scalar's text as the resource type (constants, device variables,
 * enum values): decimal integers, floats, true/false, strings as is, Time as
 * seconds, Objlnk "oid:iid", Opaque as the bytes of s. -EINVAL/-ERANGE. Byte values
 * point into s. */
int mapping_value_from_text(enum lwm2m_type type, const char *s, size_t len, struct lwm2m_value *out);

/* ---- value templates (mappings/template.c) --------------------------------------- */

/*
 * The forms of Home Assistant's `value_template` (Jinja2) that discovery
 * configurations use: one `{{ expression }}` of `value` (the payload text),
 * `value_json` with `.key`, `['key']` and `[index]` steps, number literals,
 * + - * / and parentheses, unary minus, and the filters float, int (each
 * with an optional default), round(n[, 'common'|'floor'|'ceil']) and abs.
 * Results print as Jinja2 prints them under Python (21.5, 22.0, True,
 * None). Anything else is refused at compile time with the reason.
 */
struct mapping_template;

enum mapping_tval_kind {
	MAPPING_TVAL_NONE = 0, /* undefined: a JSON member that is not there */
	MAPPING_TVAL_NULL,     /* JSON null (prints None) */
	MAPPING_TVAL_BOOL,
	MAPPING_TVAL_INT,
	MAPPING_TVAL_FLOAT,
	MAPPING_TVAL_STRING,
};

/* A value while rendering; strings point into the payload or the JSON
 * document (valid during the render only). */
struct mapping_tval {
	uint8_t kind; /* enum mapping_tval_kind */
	bool b;
	int64_t i;
	double f;
	const char *s;
	size_t len;
};

/* One step of a value_json path: a member key (len bytes) or a list index. */
struct mapping_tstep {
	const char *key;
	size_t len;
	long index;
	bool is_index;
};

/* Resolves value_json + steps for the renderer: fills *out (kind NONE when a
 * member is absent) and returns 0, or -EBADMSG when the payload is not JSON,
 * -EINVAL when the steps name an object or a list (not a value). */
typedef int (*mapping_template_json_fn)(void *ud, const struct mapping_tstep *steps, size_t n,
					struct mapping_tval *out);

/* Compile text (at most 1024 characters). -EINVAL with the reason in why
 * (what is not supported and where), -ENOMEM. Free with
 * mapping_template_free(). */
int mapping_template_compile(const char *text, struct mapping_template **out, char *why, size_t why_size);
struct mapping_template *mapping_template_free(struct mapping_template *t); /* accepts NULL */
/* Whether the template reads value_json (the payload must be parsed). */
bool mapping_template_uses_json(const struct mapping_template *t);
const char *mapping_template_text(const struct mapping_template *t);

/* Evaluate with `value` = the payload (value_len bytes) and json resolving
 * value_json (may be NULL: value_json is then -EBADMSG). Returns 0 and
 * *out; -ENOENT (a JSON member is absent: a partial update), -EBADMSG (not
 * JSON), -EINVAL (float/int of text that is no number without a default,
 * arithmetic on text or on an object), -ERANGE (division by zero, integer
 * overflow, a result that is not finite). */
int mapping_template_eval(const struct mapping_template *t, const char *value, size_t value_len,
			  mapping_template_json_fn json, void *ud, struct mapping_tval *out);
/* mapping_template_eval() printed into buf (NUL-terminated): the length, or
 * its errors, -ENOBUFS. */
int mapping_template_render(const struct mapping_template *t, const char *value, size_t value_len,
			    mapping_template_json_fn json, void *ud, char *buf, size_t size);
/* A value as Jinja2 prints it: True/False, None, integers, floats as
 * Python's repr (21.5, 22.0, 1e-05), strings as they are. Returns the
 * length, -ENOENT for NONE, -ENOBUFS. */
int mapping_tval_text(const struct mapping_tval *v, char *buf, size_t size);
/* Python's repr() of a float into buf: the length written. */
int mapping_py_float_repr(double d, char *buf, size_t size);
