/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lwm2m/lwm2m.h — the public face of fieldgate's LwM2M data model.
 *
 * Everything here is pure: no libcoap, no I/O except the DDF loader reading
 * files, no logging, and no global mutable state, so thousands of endpoints
 * can live in one process and every parser can be fuzzed alone.
 *
 * Conventions:
 *  - functions returning int give 0 (or a count) on success and a negative
 *    errno on failure:
 *      -EBADMSG          malformed input (maps to CoAP 4.00)
 *      -EINVAL           well-formed but invalid value or argument (4.00)
 *      -ENOENT           no such object / instance / resource (4.04)
 *      -EPERM            operation not allowed on that resource (4.05)
 *      -ENOTSUP          this content format cannot carry that payload (4.06)
 *      -EPROTONOSUPPORT  unknown content format (4.15 on decode)
 *      -EEXIST           instance already exists
 *      -ENOMEM           out of memory
 *      -ERANGE           number out of range for the type
 *  - byte strings (String, Opaque, Corelnk) are (pointer, length) pairs: they
 *    may contain NUL and are never NUL-terminated by contract;
 *  - destructors accept NULL and return NULL, so `p = x_free(p);` reads well.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- content formats (CoAP Content-Format numbers) ---------------------- */

enum {
	LWM2M_CT_TEXT = 0,
	LWM2M_CT_LINK = 40,
	LWM2M_CT_OPAQUE = 42,
	LWM2M_CT_SENML_JSON = 110,
	LWM2M_CT_SENML_CBOR = 112,
	LWM2M_CT_TLV = 11542,
	LWM2M_CT_LWM2M_JSON = 11543,
	LWM2M_CT_LWM2M_CBOR = 11544,
	LWM2M_CT_NONE = 0xFFFF, /* no Content-Format / Accept option */
};

/* Name such as "SenML CBOR" or NULL for an unknown number. */
const char *lwm2m_ct_name(uint16_t ct);

/* ---- data types ---------------------------------------------------------- */

enum lwm2m_type {
	LWM2M_TYPE_NONE = 0, /* executable resources; records without value */
	LWM2M_TYPE_STRING,
	LWM2M_TYPE_INTEGER,
	LWM2M_TYPE_UNSIGNED,
	LWM2M_TYPE_FLOAT,
	LWM2M_TYPE_BOOLEAN,
	LWM2M_TYPE_OPAQUE,
	LWM2M_TYPE_TIME,
	LWM2M_TYPE_OBJLNK,
	LWM2M_TYPE_CORELNK,
	LWM2M_TYPE__MAX,
};

/* DDF spelling: "String", "Integer", "Unsigned Integer", "Float", "Boolean",
 * "Opaque", "Time", "Objlnk", "Corelnk", "" (none). */
const char *lwm2m_type_name(enum lwm2m_type t);
/* Inverse of lwm2m_type_name(); case-insensitive. -EINVAL if unknown. */
int lwm2m_type_from_name(const char *s, size_t n, enum lwm2m_type *out);

struct lwm2m_value {
	uint8_t type; /* enum lwm2m_type */
	union {
		int64_t i;  /* INTEGER; TIME (seconds since the Unix epoch) */
		uint64_t u; /* UNSIGNED */
		double f;   /* FLOAT */
		bool b;     /* BOOLEAN */
		struct {
			uint16_t oid, iid;
		} lnk; /* OBJLNK; 65535:65535 is the null link */
		struct {
			const uint8_t *ptr;
			size_t len;
		} bytes; /* STRING, OPAQUE, CORELNK */
	};
};

/* Convert a value to another type without losing information: an Integer 5
 * becomes Float 5.0 or Unsigned 5, a Float 2.0 becomes Integer 2, but a Float
 * 2.5 to Integer, a negative to Unsigned, or an Unsigned above INT64_MAX to
 * Integer fail with -ERANGE; a Float converts to Integer only when exact.
 * Byte types convert only to the same type (String<->Corelnk allowed).
 * Returns 0, -ERANGE or -EINVAL (no conversion between those types). */
int lwm2m_value_convert(const struct lwm2m_value *in, enum lwm2m_type to, struct lwm2m_value *out);

/* Shortest decimal text that reads back as exactly the same double
 * ("%.17g" only when needed). Writes at most 32 bytes including the NUL;
 * returns the length. NaN/Inf give -EINVAL (JSON and text cannot carry them). */
int lwm2m_fmt_double(double v, char out[32]);

/* ---- growable output buffer --------------------------------------------- */

struct lwm2m_buf {
	uint8_t *data;
	size_t len, cap;
};
int lwm2m_buf_append(struct lwm2m_buf *b, const void *p, size_t n);
int lwm2m_buf_putc(struct lwm2m_buf *b, uint8_t c);
int lwm2m_buf_printf(struct lwm2m_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lwm2m_buf_reset(struct lwm2m_buf *b); /* len = 0, keeps memory */
void lwm2m_buf_free(struct lwm2m_buf *b);  /* frees memory, zeroes */

/* ---- paths ---------------------------------------------------------------- */

#define LWM2M_ID_MAX 65534 /* 65535 is reserved ("no id") */

/* A data-model path: "/" (len 0), "/3", "/3/0", "/3/0/7", "/3/0/7/1". */
struct lwm2m_path {
	uint16_t id[4]; /* object, instance, resource, resource instance */
	uint8_t len;    /* how many of id[] are set: 0..4 */
};

enum { LWM2M_OID = 0, LWM2M_IID = 1, LWM2M_RID = 2, LWM2M_RIID = 3 };

/* A slice of someone else's memory. */
struct lwm2m_span {
	const char *ptr;
	size_t len;
};

/* Parse "/3303/0/5700" (leading '/' optional, trailing '/' accepted, "" and
 * "/" are the root). When prefix is not NULL a first segment that is not a
 * number is taken as an Object 25 prefix ("/dev0/3303/0/5700") and returned
 * there (empty span if none); when prefix is NULL such a path is -EBADMSG.
 * Ids above 65534, empty inner segments, leading '+', more than four ids are
 * -EBADMSG. A prefix is 1..64 bytes of [A-Za-z0-9_.~-] and not all digits. */
int lwm2m_path_parse(const char *s, size_t n, struct lwm2m_path *out, struct lwm2m_span *prefix);
/* "/3/0/7" (no trailing '/'; the root is "/"). out must hold 32 bytes;
 * returns the length. */
int lwm2m_path_format(const struct lwm2m_path *p, char out[32]);
/* Lexicographic by id, a parent before its children: <0, 0, >0. */
int lwm2m_path_cmp(const struct lwm2m_path *a, const struct lwm2m_path *b);
/* True when p equals base or lies below it. */
bool lwm2m_path_is_under(const struct lwm2m_path *p, const struct lwm2m_path *base);
/* Helper for literals: LWM2M_PATH(3, 0, 7) */
#define LWM2M_PATH(...)                              \
	((struct lwm2m_path){ .id = { __VA_ARGS__ }, \
			      .len = sizeof((uint16_t[]){ __VA_ARGS__ }) / sizeof(uint16_t) })

/* ---- notification attributes ------------------------------------------- */

enum lwm2m_attr {
	LWM2M_ATTR_PMIN = 1u << 0,
	LWM2M_ATTR_PMAX = 1u << 1,
	LWM2M_ATTR_GT = 1u << 2,
	LWM2M_ATTR_LT = 1u << 3,
	LWM2M_ATTR_ST = 1u << 4,
	LWM2M_ATTR_EPMIN = 1u << 5,
	LWM2M_ATTR_EPMAX = 1u << 6,
};

struct lwm2m_attrs {
	uint32_t set;                      /* attributes given with a value */
	uint32_t unset;                    /* attributes given without value ("pmin" alone = remove) */
	uint32_t pmin, pmax, epmin, epmax; /* seconds */
	double gt, lt, st;
};

/* Parse one Uri-Query option of a Write-Attributes request ("pmin=10", "gt=-3.5",
 * "st" alone) into a. Unknown names and bad numbers are -EINVAL; a negative
 * pmin/pmax/epmin/epmax or st is -EINVAL. */
int lwm2m_attrs_parse_param(const char *s, size_t n, struct lwm2m_attrs *a);
/* Parse a whole query "pmin=10&pmax=60" (each '&'-separated part as above). */
int lwm2m_attrs_parse_query(const char *s, size_t n, struct lwm2m_attrs *a);
/* Consistency rules of the TS applied to the merged attribute set:
 * pmax >= pmin when both set, epmax > epmin when both set, lt < gt, and
 * lt + 2*st < gt when all three are set; st >= 0. -EINVAL otherwise. */
int lwm2m_attrs_validate(const struct lwm2m_attrs *a);
/* Apply a Write-Attributes request to a stored set: set values overwrite,
 * unset bits remove. */
void lwm2m_attrs_apply(struct lwm2m_attrs *dst, const struct lwm2m_attrs *req);

/* ---- object definitions ------------------------------------------------- */

enum lwm2m_op {
	LWM2M_OP_R = 1u << 0,
	LWM2M_OP_W = 1u << 1,
	LWM2M_OP_E = 1u << 2,
};

enum {
	LWM2M_RES_MULTIPLE = 1u << 0,
	LWM2M_RES_MANDATORY = 1u << 1,
	LWM2M_RES_HAS_RANGE = 1u << 2, /* min/max below are meaningful */
};

struct lwm2m_resdef {
	uint16_t rid;
	uint8_t type;  /* enum lwm2m_type */
	uint8_t ops;   /* enum lwm2m_op bits; 0 = no operation */
	uint8_t flags; /* LWM2M_RES_* */
	const char *name;
	const char *units; /* may be NULL */
	double min, max;   /* numeric range (or string length range) when HAS_RANGE */
};

enum {
	LWM2M_OBJ_MULTIPLE = 1u << 0,
	LWM2M_OBJ_MANDATORY = 1u << 1,
};

struct lwm2m_objdef {
	uint16_t oid;
	uint8_t ver_major, ver_minor; /* object version, 1.0 when not stated */
	uint8_t flags;                /* LWM2M_OBJ_* */
	uint16_t nres;
	const char *name;
	const struct lwm2m_resdef *res; /* sorted by rid */
};

/* Binary search; NULL when the object has no such resource. */
const struct lwm2m_resdef *lwm2m_objdef_find_res(const struct lwm2m_objdef *d, uint16_t rid);

/* Diagnostics of loaders: "file:line:col: message". line/col are 1-based,
 * 0 when unknown. */
typedef void (*lwm2m_diag_fn)(void *ctx, const char *file, unsigned line, unsigned col, const char *msg);

/* A set of object definitions: the built-in table (objects 0, 1, 3, 4, 5, 25
 * v2.0, 3200-3203, 3300-3350) plus any loaded from DDF XML files. Definitions
 * are shared by every endpoint and never copied. One registry per process is
 * usual, but nothing stops several. */
struct lwm2m_registry;

struct lwm2m_registry *lwm2m_registry_new(void); /* built-ins loaded; NULL on OOM */
struct lwm2m_registry *lwm2m_registry_free(struct lwm2m_registry *r);
const struct lwm2m_objdef *lwm2m_registry_find(const struct lwm2m_registry *r, uint16_t oid);
/* Number of definitions and access by index (sorted by oid), for listings. */
size_t lwm2m_registry_count(const struct lwm2m_registry *r);
const struct lwm2m_objdef *lwm2m_registry_at(const struct lwm2m_registry *r, size_t i);

/* Load one DDF XML document (the OMA registry format, LWM2M.xsd). A file
 * defining an object already present replaces it when its version is newer
 * or equal, so an integrator can override a built-in. On error nothing
 * changes, diag is called for each problem, and -EBADMSG/-EINVAL returned.
 * Returns the number of definitions added or replaced (0 for a document that
 * is not an object definition, e.g. an XSD). name is used in diagnostics only. */
int lwm2m_registry_load_ddf(struct lwm2m_registry *r, const char *name, const void *xml, size_t len,
			    lwm2m_diag_fn diag, void *ctx);
int lwm2m_registry_load_ddf_file(struct lwm2m_registry *r, const char *path, lwm2m_diag_fn diag, void *ctx);
/* Every *.xml in dir (sorted by name). Files that fail are reported and
 * skipped; returns the number of definitions loaded, or a negative errno if
 * dir cannot be read. */
int lwm2m_registry_load_dir(struct lwm2m_registry *r, const char *dir, lwm2m_diag_fn diag, void *ctx);

/* ---- records: the interchange form of every content format --------------- */

/* One value at one path. Decoders produce records; encoders consume them.
 * A record may carry a path prefix (Object 25 gateway addressing) and a time
 * stamp (SenML bt+t, resolved; negative = seconds before now). */
struct lwm2m_record {
	struct lwm2m_path path;
	struct lwm2m_value value; /* type NONE: name only (Read-Composite request) */
	struct lwm2m_span prefix; /* empty when none */
	double time;
	bool has_time;
};

struct lwm2m_arena; /* private: holds decoded bytes until the records are cleared */

struct lwm2m_records {
	struct lwm2m_record *v;
	size_t n, cap;
	struct lwm2m_arena *arena;
};

/* Zero-initialising a struct lwm2m_records is a valid empty list. */
void lwm2m_records_clear(struct lwm2m_records *r); /* frees everything, back to empty */
/* Appends a zeroed record; NULL on OOM. Pointers into r->v are invalidated. */
struct lwm2m_record *lwm2m_records_add(struct lwm2m_records *r);
/* n bytes that live as long as r (until lwm2m_records_clear). NULL on OOM. */
void *lwm2m_records_alloc(struct lwm2m_records *r, size_t n);
/* Copy bytes into r's arena (for a value or prefix that must outlive its source). */
const void *lwm2m_records_dup(struct lwm2m_records *r, const void *p, size_t n);
/* Stable sort by (prefix, path). */
void lwm2m_records_sort(struct lwm2m_records *r);

/* Tells decoders the type of a resource when the format does not carry it
 * (text, opaque, TLV, numbers in SenML and CBOR). Return LWM2M_TYPE_NONE when
 * unknown; decoders then use Opaque for TLV/opaque bytes, String for text,
 * and Integer or Float for SenML numbers by their form. */
typedef enum lwm2m_type (*lwm2m_type_fn)(void *ctx, const struct lwm2m_path *p);

/* A ready-made lwm2m_type_fn whose ctx is a const struct lwm2m_registry *. */
enum lwm2m_type lwm2m_registry_type_of(void *registry, const struct lwm2m_path *p);

/* Encode records (sorted, all at or below base) as content format ct and
 * append to out. base is the request path: TLV nests relative to it, LwM2M
 * CBOR keeps full paths from the root (TS 1.2 §7.4.6) within it, SenML uses
 * it as the base name, text and opaque need exactly one
 * record at base (a resource or resource instance). Returns 0, -ENOTSUP when
 * ct cannot carry this payload (e.g. text with several values, opaque of a
 * Float, TLV of a composite), -EPROTONOSUPPORT for an unknown ct, -EINVAL for
 * a record outside base or a value the format cannot hold (NaN in JSON). */
int lwm2m_encode(uint16_t ct, const struct lwm2m_path *base, const struct lwm2m_record *recs, size_t n,
		 struct lwm2m_buf *out);

/* Decode a payload of content format ct addressed to base (the request path)
 * into records appended to out (absolute paths). Never reads outside
 * data[0..len); on any malformed input returns -EBADMSG and leaves out as it
 * was. type_of may be NULL. */
int lwm2m_decode(uint16_t ct, const struct lwm2m_path *base, const uint8_t *data, size_t len,
		 lwm2m_type_fn type_of, void *type_ctx, struct lwm2m_records *out);

/* ---- CoRE link format (RFC 6690), content format 40 ------------------- */

#define LWM2M_LINK_MAX_PARAMS 16

struct lwm2m_link_param {
	struct lwm2m_span name;
	struct lwm2m_span value; /* without quotes; empty when has_value is false */
	bool has_value, quoted;
};

struct lwm2m_link {
	struct lwm2m_span uri; /* between '<' and '>' */
	struct lwm2m_link_param params[LWM2M_LINK_MAX_PARAMS];
	size_t nparams;
};

typedef int (*lwm2m_link_fn)(void *ctx, const struct lwm2m_link *l);

/* Parse a link-format document, calling cb for each link in order (spans
 * point into s, except a quoted value that contained backslash escapes: it
 * is unescaped into a copy valid only during that cb call). A non-zero
 * return from cb stops parsing and is returned.
 * Malformed input or more than LWM2M_LINK_MAX_PARAMS parameters: -EBADMSG. */
int lwm2m_link_parse(const char *s, size_t n, lwm2m_link_fn cb, void *ctx);
/* Append links to out, separated by ','; values are quoted when quoted is
 * set or when they contain characters that require it. */
int lwm2m_link_encode(struct lwm2m_buf *out, const struct lwm2m_link *links, size_t n);

/* ---- base64 (RFC 4648), used by text, JSON and SenML JSON opaque ------- */

/* url: the base64url alphabet without padding (SenML JSON); otherwise the
 * standard alphabet with padding. */
int lwm2m_base64_encode(struct lwm2m_buf *out, const uint8_t *p, size_t n, bool url);
/* Accepts both alphabets, with or without padding; rejects other bytes and
 * impossible lengths with -EBADMSG. out must hold n*3/4+3 bytes; returns the
 * decoded length. */
int lwm2m_base64_decode(uint8_t *out, const char *s, size_t n);

/* ---- object store: one per endpoint ------------------------------------ */

/* The instances and resource values of one LwM2M endpoint (or of one Object
 * 25 device). Compact: instances and resources live in sorted arrays, object
 * definitions are shared through the registry. Values are copied in. */
struct lwm2m_store;

struct lwm2m_store *lwm2m_store_new(const struct lwm2m_registry *reg);
/* The same with room for ninst instances and nval values in the store's
 * own allocation (one block instead of three: a device of a known profile;
 * ~40 bytes of malloc overhead a device). More than that moves them out,
 * as growth does. NULL: no memory, or more than 262,140 instances /
 * 4,194,240 values asked for. */
struct lwm2m_store *lwm2m_store_new_sized(const struct lwm2m_registry *reg, size_t ninst, size_t nval);
struct lwm2m_store *lwm2m_store_free(struct lwm2m_store *s);

/* Create /oid/iid. -ENOENT when the registry has no definition of oid,
 * -EEXIST when present, -EINVAL for a second instance of a single-instance
 * object or an id above 65534. */
int lwm2m_store_add_instance(struct lwm2m_store *s, uint16_t oid, uint16_t iid);
int lwm2m_store_del_instance(struct lwm2m_store *s, uint16_t oid, uint16_t iid); /* -ENOENT */
bool lwm2m_store_has(const struct lwm2m_store *s, const struct lwm2m_path *p);

/* Set a resource (len 3) or resource-instance (len 4) value, converting with
 * lwm2m_value_convert() to the defined type. No operation check: this is the
 * gateway's own side. -ENOENT (no instance / undefined resource), -EINVAL
 * (len 4 on a single resource or len 3 on a multiple one), -ERANGE. */
int lwm2m_store_set(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v);
/* The same, with the time the value was measured (seconds since the Unix
 * epoch, kept to the millisecond; 0 or out of 1..2^32: none): Read and
 * Observe give it as the record's time (SenML "t"). A value set without a
 * time (lwm2m_store_set, server writes) has none. */
int lwm2m_store_set_at(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v,
		       double time);
/* lwm2m_store_set() of a value whose bytes (String, Opaque, Corelnk) the
 * store keeps a pointer to instead of a copy: they must stay unchanged
 * while the value is in s (until it is set again, unset, or s freed).
 * For constants that outlive the store (a profile's). Other types, and
 * bytes the conversion to the defined type replaced, are copied. */
int lwm2m_store_set_borrowed(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_value *v);
/* Remove a resource or resource instance value. -ENOENT when absent. */
int lwm2m_store_unset(struct lwm2m_store *s, const struct lwm2m_path *p);
/* Get one value; byte values point into the store and stay valid until the
 * next change of s. -ENOENT when absent. */
int lwm2m_store_get(const struct lwm2m_store *s, const struct lwm2m_path *p, struct lwm2m_value *out);

/* Server-side Read: append every present, readable (R) resource value at or
 * below p to out, sorted, with its time when it has one. Byte values are copied into out's arena. -ENOENT
 * when p does not exist, -EPERM when p names a resource without R. */
int lwm2m_store_read(const struct lwm2m_store *s, const struct lwm2m_path *p, struct lwm2m_records *out);

/* Server-side Write of records (all at or below p) to instance or resource p.
 * replace: PUT semantics (an instance's writable resources not in recs are
 * removed, a multiple resource's instances are replaced); otherwise POST
 * partial update. Every record is checked first (exists in the definition,
 * has W, converts to the defined type); on any error nothing changes.
 * -ENOENT, -EPERM, -EINVAL/-ERANGE (bad value). */
int lwm2m_store_write(struct lwm2m_store *s, const struct lwm2m_path *p, const struct lwm2m_records *in,
		      bool replace);

/* Visit instances in (oid, iid) order; a non-zero return from cb stops and is
 * returned. */
typedef int (*lwm2m_inst_fn)(void *ctx, const struct lwm2m_objdef *def, uint16_t iid);
int lwm2m_store_foreach_instance(const struct lwm2m_store *s, lwm2m_inst_fn cb, void *ctx);

/* Room for ninst instances and nval values in all, exactly: a store built
 * from a known list (a profile) then holds no growth slack (~30 % of the
 * values' array otherwise; 100,000 devices in a gateway). Later growth is
 * as usual. -EINVAL, -ENOMEM (the store is unchanged). */
int lwm2m_store_reserve(struct lwm2m_store *s, size_t ninst, size_t nval);
/* Bytes of heap this store holds (for the memory budget and benchmarks). */
size_t lwm2m_store_memory(const struct lwm2m_store *s);
