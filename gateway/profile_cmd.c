/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `fieldgate profile check FILE...` and `fieldgate profile test [PROFILE]
 * [options]`: a profile validated alone, and tried on field data captured
 * on the command line, without a running gateway, server or field device.
 *
 * test prints, per device, every resource the profile gives it: path, the
 * object definition's name, type, the value the captured data gives it
 * (decoded exactly as the daemon decodes a bridge's sample: the bridge
 * kind's own reader, then mapping_decode) and the unit; for `--write
 * PATH=VALUE` / `--execute PATH[=ARGS]`, what would be sent to the field.
 * The capture options belong to the bridge kinds (bridge_tester: register
 * images, messages, adverts...); kinds whose devices describe themselves
 * make the profiles from the capture (device lists, discovery
 * configurations, a register map for a profile that says `generate:`).
 * Exit status: 0, 1 when the profile does not load or a captured value
 * does not decode or a write is refused, 2 for a usage error.
 */
#include "gateway/gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bridges/bridge.h"
#include "lwm2m/lwm2m.h"
#include "mappings/mapping.h"

#define MAX_ACTIONS 32

struct kind {
	const struct bridge_kind *kind;
	struct bridge_capture *cap;
};

struct action {
	const char *path, *value; /* value NULL: an execute without arguments */
	bool execute;
};

struct run {
	FILE *out, *err;
	const struct lwm2m_registry *reg;
	const char *search_path;
	struct kind kinds[BRIDGE_KINDS_MAX];
	size_t nkinds;
	const char *address;
	struct action actions[MAX_ACTIONS];
	size_t nactions;
	bool yaml;
	bool failed;
	unsigned devices;
	int name_width; /* the NAME column: the longest name of the device shown */
};

static void diag_to(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
		    const char *msg)
{
	char buf[1200];

	/* A problem with no place in a file is about the command line. */
	if (!file) {
		fprintf(ctx, "fieldgate: %s\n", msg);
		return;
	}
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	fprintf(ctx, "%s\n", buf);
}

static struct kind *kind_of(struct run *R, const char *type)
{
	for (size_t i = 0; type && i < R->nkinds; i++)
		if (strcmp(R->kinds[i].kind->name, type) == 0)
			return &R->kinds[i];
	return NULL;
}

static void value_text(const struct lwm2m_value *v, char *buf, size_t size)
{
	char d[32];

	switch (v->type) {
	case LWM2M_TYPE_INTEGER:
	case LWM2M_TYPE_TIME:
		snprintf(buf, size, "%" PRId64, v->i);
		break;
	case LWM2M_TYPE_UNSIGNED:
		snprintf(buf, size, "%" PRIu64, v->u);
		break;
	case LWM2M_TYPE_FLOAT:
		snprintf(buf, size, "%s", lwm2m_fmt_double(v->f, d) < 0 ? "(not finite)" : d);
		break;
	case LWM2M_TYPE_BOOLEAN:
		snprintf(buf, size, "%s", v->b ? "true" : "false");
		break;
	case LWM2M_TYPE_OBJLNK:
		snprintf(buf, size, "%u:%u", v->lnk.oid, v->lnk.iid);
		break;
	case LWM2M_TYPE_OPAQUE: {
		size_t o = 0;
		for (size_t i = 0; i < v->bytes.len && o + 3 < size; i++)
			o += (size_t)snprintf(buf + o, size - o, "%02x", v->bytes.ptr[i]);
		buf[o] = '\0';
		break;
	}
	default:
		snprintf(buf, size, "%.*s", (int)(v->bytes.len < size ? v->bytes.len : size - 1),
			 v->bytes.ptr ? (const char *)v->bytes.ptr : "");
		break;
	}
}

static const char *res_name(const struct run *R, const struct mapping_point *pt, char *buf, size_t size)
{
	const struct lwm2m_objdef *od = lwm2m_registry_find(R->reg, pt->path.id[0]);

	snprintf(buf, size, "%s.%s", od && od->name ? od->name : "?",
		 pt->def && pt->def->name ? pt->def->name : "?");
	return buf;
}

/* One resource's line: its value from the capture. */
static void point_line(struct run *R, struct kind *k, const struct mapping_point *pt, const char *device,
		       const char *address)
{
	char path[32], name[160], val[300] = "", why[300] = "";
	const char *note = "";
	struct lwm2m_value v;

	lwm2m_path_format(&pt->path, path);
	switch (pt->from) {
	case MAPPING_FROM_CONST:
		value_text(&pt->constant, val, sizeof(val));
		break;
	case MAPPING_FROM_DEVICE:
		if (strcmp(pt->device_var, "serial") == 0 || strcmp(pt->device_var, "name") == 0)
			snprintf(val, sizeof(val), "%s", device);
		else
			snprintf(val, sizeof(val), "(the device's %s)", pt->device_var);
		break;
	case MAPPING_FROM_SOURCE: {
		struct mapping_sample s;
		uint64_t t = 0;
		int r = k && k->kind->tester->sample
				? k->kind->tester->sample(k->cap, pt, address, &s, &t, why, sizeof(why))
				: -ENOENT;
		if (r == 0)
			r = mapping_decode(pt, &s, &v);
		if (r == 0)
			value_text(&v, val, sizeof(val));
		else if (r == -ENOENT && why[0])
			snprintf(val, sizeof(val), "(no sample: %s)", why);
		else if (r == -ENOENT && !k)
			snprintf(val, sizeof(val), "(no sample: nothing captured for this bridge)");
		else {
			snprintf(val, sizeof(val), "error: %s%s%s", strerror(-r), why[0] ? ": " : "", why);
			R->failed = true;
		}
		break;
	}
	default:
		/* An execute-only resource has no value to show. */
		if (!pt->executable || pt->writable)
			snprintf(val, sizeof(val), "(set by the gateway)");
		break;
	}
	if (pt->writable && pt->executable)
		note = "  [writable, executable]";
	else if (pt->writable)
		note = "  [writable]";
	else if (pt->executable)
		note = "  [executable]";
	fprintf(R->out, "  %-15s %-*s %-8s %s%s%s%s\n", path, R->name_width,
		res_name(R, pt, name, sizeof(name)), lwm2m_type_name((enum lwm2m_type)pt->type), val,
		pt->unit ? " " : "", pt->unit ? pt->unit : "", note);
}

/* --write / --execute on a device: what would be sent. */
static void actions(struct run *R, struct kind *k, const struct mapping_profile *p, const char *address)
{
	for (size_t i = 0; i < R->nactions; i++) {
		const struct action *a = &R->actions[i];
		struct lwm2m_path path;
		const struct mapping_point *pt;
		char line[4400] = "";
		int r;

		if (lwm2m_path_parse(a->path, strlen(a->path), &path, NULL) < 0 ||
		    !(pt = mapping_profile_find(p, &path)))
			continue; /* not this device's */
		if (a->execute) {
			if (!pt->executable) {
				fprintf(R->out, "  execute %s: refused, not executable (4.05)\n", a->path);
				R->failed = true;
				continue;
			}
			r = k ? k->kind->tester->describe(k->cap, pt, address, NULL, a->value, line,
							  sizeof(line))
			      : -ENOENT;
			fprintf(R->out, "  execute %s%s%s: %s\n", a->path, a->value ? " " : "",
				a->value ? a->value : "", r == 0 || line[0] ? line : "cannot tell");
			R->failed |= r < 0;
			continue;
		}
		struct lwm2m_value v;
		struct mapping_sample s;
		uint8_t buf[512];
		r = mapping_value_from_text((enum lwm2m_type)pt->type, a->value, strlen(a->value), &v);
		if (r == 0)
			r = mapping_encode(pt, &v, buf, sizeof(buf), &s);
		if (r < 0) {
			/* What mapping_encode() says, as an LwM2M Write would answer. */
			fprintf(R->out, "  write %s = %s: refused, %s (%s)\n", a->path, a->value,
				r == -EPERM    ? "not writable"
				: r == -ENOENT ? "not one of its enum's values"
				: r == -ERANGE
					? "out of its range (min/max, the object's range, the field's type)"
					: "not a value of its type",
				r == -EPERM ? "4.05" : "4.00");
			R->failed = true;
			continue;
		}
		r = k ? k->kind->tester->describe(k->cap, pt, address, &s, NULL, line, sizeof(line))
		      : -ENOENT;
		fprintf(R->out, "  write %s = %s: %s\n", a->path, a->value,
			r == 0    ? line
			: line[0] ? line
				  : "cannot tell");
		R->failed |= r < 0;
	}
}

static void show(struct run *R, const struct mapping_profile *p, const char *device, const char *address,
		 const char *skipped, const char *text)
{
	struct kind *k = kind_of(R, mapping_profile_bridge(p));

	if (R->devices++)
		fprintf(R->out, "\n");
	fprintf(R->out, "Device %s%s%s%s, profile %s%s%s\n", device, address ? " (address " : "",
		address ? address : "", address ? ")" : "", mapping_profile_name(p),
		mapping_profile_description(p) ? ": " : "",
		mapping_profile_description(p) ? mapping_profile_description(p) : "");
	if (skipped && *skipped)
		fprintf(R->out, "  Not mapped: %s\n", skipped);
	if (R->yaml && text)
		fprintf(R->out, "%s%s", text, text[strlen(text) - 1] == '\n' ? "" : "\n");
	R->name_width = 4;
	for (size_t i = 0; i < mapping_profile_npoints(p); i++) {
		char name[160];
		int n = (int)strlen(res_name(R, mapping_profile_point(p, i), name, sizeof(name)));
		if (n > R->name_width)
			R->name_width = n;
	}
	fprintf(R->out, "  %-15s %-*s %-8s %s\n", "PATH", R->name_width, "NAME", "TYPE", "VALUE UNIT");
	for (size_t i = 0; i < mapping_profile_npoints(p); i++)
		point_line(R, k, mapping_profile_point(p, i), device, address);
	actions(R, k, p, address);
}

struct gen_ctx {
	struct run *R;
	const char *device, *address; /* defaults when the capture names none */
};

static int on_generated(void *ud, const struct bridge_generated *g)
{
	struct gen_ctx *G = ud;
	struct run *R = G->R;
	struct mapping_set *set = mapping_set_new(R->reg, bridge_source_kinds(), R->search_path);
	struct diag diag = { .fn = diag_to, .ctx = R->err };
	const struct mapping_profile *p;
	int r;

	if (!set)
		return -ENOMEM;
	r = mapping_set_load_buffer(set, g->name, g->name, g->text, g->len, &diag, &p);
	if (r < 0) {
		fprintf(R->err, "generated profile %s does not load: %s\n", g->name, strerror(-r));
		R->failed = true;
	} else
		show(R, p, g->device ? g->device : G->device, g->address ? g->address : G->address,
		     g->skipped, g->text);
	mapping_set_free(set);
	return r;
}

static int generated(struct run *R, struct kind *k, const char *what, const char *device)
{
	struct gen_ctx G = { .R = R, .device = device, .address = R->address };
	char why[400] = "";
	int r;

	if (!k || !k->kind->tester->generate) {
		fprintf(R->err, "fieldgate: nothing captured to generate a profile from\n");
		return -EINVAL;
	}
	r = k->kind->tester->generate(k->cap, what, on_generated, &G, why, sizeof(why));
	if (r < 0)
		fprintf(R->err, "fieldgate: %s\n", why[0] ? why : strerror(-r));
	return r;
}

static int usage(FILE *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage(FILE *err, const char *fmt, ...)
{
	va_list ap;

	fprintf(err, "fieldgate: ");
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, "\nTry 'fieldgate --help' for more information.\n");
	return 2;
}

void gw_profile_help(FILE *out)
{
	fprintf(out,
		"  profile check FILE...  Validate profile files alone (every problem as file:line:col)\n"
		"          test [PROFILE] [--address ADDR] [--write PATH=VALUE] [--execute PATH[=ARGS]]\n"
		"               [--yaml] CAPTURE...\n"
		"                         Try a profile (a name or a file) on captured field data:\n"
		"                         the resources it gives, their values, what writes send\n");
	/* The capture options of the kinds this build has. */
	for (size_t i = 0; bridge_kind_name(i); i++) {
		const struct bridge_kind *k = bridge_kind_find(bridge_kind_name(i));
		for (const struct bridge_tester_opt *x = k && k->tester ? k->tester->opts : NULL;
		     x && x->name; x++)
			fprintf(out, "                         %s %s: %s\n", x->name, x->usage, x->help);
	}
}

/* The objects and the profile path of the configuration when it loads,
 * else the built-in objects and the default path. */
static struct lwm2m_registry *setup(const struct gw_options *opt, FILE *err, char **path, bool *bad)
{
	struct diag quiet = { 0 }, loud = { .fn = diag_to, .ctx = err };
	struct gw_config *c = NULL;
	struct lwm2m_registry *reg = NULL;
	size_t len = 0;
	FILE *f;

	*path = NULL;
	*bad = false;
	if (gw_config_load_file(opt->config_path, opt->config_given ? &loud : &quiet, &c) < 0) {
		if (opt->config_given) {
			*bad = true;
			return NULL;
		}
		*path = strdup(MAPPING_DEFAULT_PATH);
		return lwm2m_registry_new();
	}
	if (gw_config_load_objects(c, &loud, &reg, NULL) < 0) {
		*bad = true;
		gw_config_free(c);
		return NULL;
	}
	f = open_memstream(path, &len);
	for (char **p = c->profiles_dirs; f && p && *p; p++)
		fprintf(f, "%s%s", p == c->profiles_dirs ? "" : ":", *p);
	if (f)
		fclose(f);
	gw_config_free(c);
	return reg;
}

/* A profile named on the command line: a file (with a '/' or ".yaml"), else a name on the path. */
static int load_named(struct mapping_set *set, const char *arg, struct diag *diag,
		      const struct mapping_profile **out)
{
	size_t n = strlen(arg);

	if (strchr(arg, '/') || (n > 5 && strcmp(arg + n - 5, ".yaml") == 0)) {
		const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
		char name[256];
		size_t bl = strlen(base);
		snprintf(name, sizeof(name), "%.*s",
			 (int)(bl > 5 && strcmp(base + bl - 5, ".yaml") == 0 ? bl - 5 : bl), base);
		return mapping_set_load_file(set, name, arg, diag, out);
	}
	return mapping_set_get(set, arg, NULL, diag, out);
}

/* The file's folder first on the search path: its includes beside it. */
static char *path_with_dir(const char *file, const char *search)
{
	const char *slash = strrchr(file, '/');
	char *p = NULL;

	if (asprintf(&p, "%.*s%s%s", slash ? (int)(slash - file) : 1, slash ? file : ".",
		     search && *search ? ":" : "", search ? search : "") < 0)
		return NULL;
	return p;
}

static int check(const struct gw_options *opt, int argc, char **argv, FILE *out, FILE *err)
{
	struct diag diag = { .fn = diag_to, .ctx = err };
	char *search;
	bool bad;
	struct lwm2m_registry *reg;
	int rc = 0;

	if (argc < 1)
		return usage(err, "%s", "'profile check' needs a FILE");
	reg = setup(opt, err, &search, &bad);
	if (!reg) {
		free(search);
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		char *sp = path_with_dir(argv[i], search);
		struct mapping_set *set = sp ? mapping_set_new(reg, bridge_source_kinds(), sp) : NULL;
		const struct mapping_profile *p;
		unsigned before = diag.errors;
		int r = set ? load_named(set, argv[i], &diag, &p) : -ENOMEM;
		if (r < 0 || diag.errors > before) {
			if (diag.errors == before)
				fprintf(err, "%s: cannot load: %s\n", argv[i], strerror(-r));
			rc = 1;
		} else {
			size_t nsrc = 0;
			for (size_t k = 0; k < mapping_profile_npoints(p); k++)
				nsrc += mapping_profile_point(p, k)->from == MAPPING_FROM_SOURCE;
			fprintf(out,
				"%s: profile %s%s%s, %zu resources (%zu read from the field) in %zu object "
				"instances%s%s\n",
				argv[i], mapping_profile_name(p), mapping_profile_bridge(p) ? " for " : "",
				mapping_profile_bridge(p) ? mapping_profile_bridge(p) : "",
				mapping_profile_npoints(p), nsrc, mapping_profile_ninstances(p),
				mapping_profile_generate(p) ? "; generate: " : "",
				mapping_profile_generate(p) ? mapping_profile_generate(p) : "");
		}
		mapping_set_free(set);
		free(sp);
	}
	if (diag.errors)
		fprintf(err, "%u error%s\n", diag.errors, diag.errors == 1 ? "" : "s");
	lwm2m_registry_free(reg);
	free(search);
	return rc;
}

/* A capture option of some kind: its index in R->kinds and the option. */
static const struct bridge_tester_opt *find_opt(struct run *R, const char *arg, size_t *ki)
{
	for (size_t i = 0; i < R->nkinds; i++)
		for (const struct bridge_tester_opt *o = R->kinds[i].kind->tester->opts; o->name; o++)
			if (strcmp(o->name, arg) == 0) {
				*ki = i;
				return o;
			}
	return NULL;
}

static int test(const struct gw_options *opt, int argc, char **argv, FILE *out, FILE *err)
{
	struct run R = { .out = out, .err = err };
	const char *profile = NULL;
	char *search = NULL;
	struct lwm2m_registry *reg = NULL;
	bool bad;
	int rc = 2;

	for (size_t i = 0; bridge_kind_name(i) && R.nkinds < BRIDGE_KINDS_MAX; i++) {
		const struct bridge_kind *k = bridge_kind_find(bridge_kind_name(i));
		if (k && k->tester)
			R.kinds[R.nkinds++] = (struct kind){ .kind = k };
	}
	for (int i = 0; i < argc; i++) {
		const struct bridge_tester_opt *o;
		size_t ki;
		char why[400] = "";
		if (strcmp(argv[i], "--address") == 0 || strcmp(argv[i], "--write") == 0 ||
		    strcmp(argv[i], "--execute") == 0) {
			if (i + 1 >= argc) {
				rc = usage(err, "option '%s' needs an argument", argv[i]);
				goto out;
			}
			if (argv[i][2] == 'a') {
				R.address = argv[++i];
				continue;
			}
			if (R.nactions >= MAX_ACTIONS) {
				rc = usage(err, "%s", "too many --write/--execute");
				goto out;
			}
			struct action *a = &R.actions[R.nactions++];
			char *eq = strchr(argv[i + 1], '=');
			a->execute = argv[i][2] == 'e';
			a->path = argv[i + 1];
			a->value = eq ? eq + 1 : NULL;
			if (eq)
				*eq = '\0';
			if (!a->execute && !eq) {
				rc = usage(err, "--write '%s': expected PATH=VALUE", argv[i + 1]);
				goto out;
			}
			i++;
			continue;
		}
		if (strcmp(argv[i], "--yaml") == 0) {
			R.yaml = true;
			continue;
		}
		o = find_opt(&R, argv[i], &ki);
		if (o) {
			if (i + (int)o->nargs >= argc) {
				rc = usage(err, "option '%s' needs its arguments", argv[i]);
				goto out;
			}
			int r = R.kinds[ki].kind->tester->capture(&R.kinds[ki].cap, o->name, argv + i + 1,
								  why, sizeof(why));
			if (r < 0) {
				fprintf(err, "fieldgate: %s: %s\n", o->name, why[0] ? why : strerror(-r));
				rc = r == -ENOMEM ? 1 : 2;
				goto out;
			}
			i += (int)o->nargs;
			continue;
		}
		if (argv[i][0] == '-' || profile) {
			rc = argv[i][0] == '-' ? usage(err, "unknown option '%s'", argv[i])
					       : usage(err, "unexpected argument '%s'", argv[i]);
			goto out;
		}
		profile = argv[i];
	}
	reg = setup(opt, err, &search, &bad);
	rc = 1;
	if (!reg)
		goto out;
	R.reg = reg;
	R.search_path = search;
	if (profile) {
		struct diag diag = { .fn = diag_to, .ctx = err };
		char *sp =
			strchr(profile, '/') ? path_with_dir(profile, search) : strdup(search ? search : "");
		struct mapping_set *set = sp ? mapping_set_new(reg, bridge_source_kinds(), sp) : NULL;
		const struct mapping_profile *p;
		int r = set ? load_named(set, profile, &diag, &p) : -ENOMEM;
		if (r < 0 || diag.errors) {
			if (!diag.errors)
				fprintf(err, "fieldgate: profile '%s': %s\n", profile, strerror(-r));
		} else if (mapping_profile_generate(p)) {
			/* Its device's profile comes from what the device says. */
			r = generated(&R, kind_of(&R, mapping_profile_bridge(p)), mapping_profile_generate(p),
				      mapping_profile_name(p));
			rc = r >= 0 && !R.failed ? 0 : 1;
		} else {
			show(&R, p, mapping_profile_name(p), R.address, NULL, NULL);
			rc = R.failed ? 1 : 0;
		}
		mapping_set_free(set);
		free(sp);
		goto out;
	}
	/* No profile: the devices the captures describe themselves. */
	for (size_t i = 0; i < R.nkinds; i++)
		if (R.kinds[i].cap && R.kinds[i].kind->tester->generate &&
		    generated(&R, &R.kinds[i], NULL, "device") < 0)
			R.failed = true;
	if (R.devices == 0 && !R.failed) {
		rc = usage(err, "%s",
			   "'profile test' needs a PROFILE, or a capture that describes devices "
			   "(--z2m-devices, --ha-config)");
		goto out;
	}
	rc = R.failed ? 1 : 0;
out:
	for (size_t i = 0; i < R.nkinds; i++)
		if (R.kinds[i].cap)
			R.kinds[i].kind->tester->capture_free(R.kinds[i].cap);
	lwm2m_registry_free(reg);
	free(search);
	return rc;
}

int gw_profile_command(const struct gw_options *opt, int argc, char **argv, FILE *out, FILE *err)
{
	if (argc < 1)
		return usage(err, "%s", "'profile' needs 'check' or 'test'");
	if (strcmp(argv[0], "check") == 0)
		return check(opt, argc - 1, argv + 1, out, err);
	if (strcmp(argv[0], "test") == 0)
		return test(opt, argc - 1, argv + 1, out, err);
	return usage(err, "unknown 'profile' command '%s' (expected check or test)", argv[0]);
}
