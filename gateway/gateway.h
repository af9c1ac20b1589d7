/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway/gateway.h — what the gateway core offers to the fieldgate command
 * (main.c), the tests and the fuzz targets: the configuration (loading,
 * validation, summary) and the daemon.
 *
 * The configuration is parsed by the table-driven schema engine
 * (common/schema.h); config_*.c hold the tables (config_lwm2m.c the
 * gateway, log, lwm2m and metrics sections, config_devices.c bridges,
 * devices and the root, config_validate.c the value checks, config_load.c
 * the loading). To add a section, add a struct here, a key table in one of
 * them and one line in the root table.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "common/diag.h"
#include "common/schema.h"
#include "common/yamldoc.h"

struct bridge_kind;
struct lwm2m_registry;
struct mapping_set;
struct mapping_profile;

/* ---- configuration ------------------------------------------------------ */

enum gw_mode {
	GW_MODE_ENDPOINT = 0, /* one LwM2M endpoint per field device */
	GW_MODE_GATEWAY,      /* one registration, devices as Object 25 instances */
};

enum gw_security {
	GW_SECURITY_NOSEC = 0,
	GW_SECURITY_PSK,
	GW_SECURITY_CERTIFICATE,
};

enum gw_reboot {
	GW_REBOOT_DAEMON = 0, /* de-register, then the daemon executes itself again */
	GW_REBOOT_HOST,       /* de-register, then logind reboots the machine */
};

enum gw_scheme {
	GW_SCHEME_COAP = 0,
	GW_SCHEME_COAPS,
};

#define GW_NAME_MAX    64  /* gateway name; endpoint names are built from it */
#define GW_HOST_MAX    253 /* DNS name limit; IPv6 literals fit too */
#define GW_PSK_KEY_MAX 64

struct gw_uri {
	const char *text; /* as written (into the document) */
	uint8_t scheme;   /* enum gw_scheme */
	bool ipv6;        /* host is an IPv6 literal (written in brackets) */
	uint16_t port;    /* the default port of the scheme when not given */
	char host[GW_HOST_MAX + 1];
};

struct gw_psk_key {
	size_t len;
	uint8_t bytes[GW_PSK_KEY_MAX];
};

struct gw_server {
	struct gw_uri uri;
	int security; /* enum gw_security */
	const char *psk_identity;
	struct gw_psk_key psk_key;
	const char *certificate, *private_key, *ca_certificate; /* PEM files (security: certificate) */
	/* security certificate: the name the server's certificate must carry
	 * instead of uri's host (a DNS name or an IP address); NULL: the host */
	const char *server_name;
	bool bootstrap;
	bool queue_mode;           /* binding UQ (store_fwd.c) */
	bool notification_storing; /* /1/0/6 as the server first sees it */
};

struct gw_gateway_config {
	const char *name;
	const char *state_dir;
	const char *objects_dir;   /* as written */
	const char *profiles_path; /* ':'-separated folders, as written */
	const char *status_socket; /* Unix socket of `fieldgate status`, or NULL: default */
	const char *devices_dir;   /* as written, or NULL: devices.d beside the file */
	int reboot;                /* enum gw_reboot: what the server's Reboot (/3/0/4) restarts */
};

/* A named bridge instance of `bridges:`. Only name and type are checked
 * here; the body is the bridge kind's to validate (bridges/bridge.h
 * verify). */
struct gw_bridge {
	const char *name;
	const char *type;               /* the `type:` word, a kind this build has */
	const struct bridge_kind *kind; /* its implementation */
	const struct ynode *body;
};

/* One entry of `devices:`. */
struct gw_device {
	const char *name;            /* endpoint-safe, unique */
	const char *bridge;          /* a bridge's name, or NULL (profile of constants only) */
	const struct ynode *address; /* bridge-specific, or NULL */
	const char *profile;         /* profile name, found on the profile search path */
	const char *endpoint;        /* endpoint name override, or NULL: the template */
	const char *psk_identity;
	/* NULL without one. Its own allocation, not in the struct: every
	 * device keeps its entry, a discovered one too (disc.c), and 72
	 * bytes in each for the few that have a key were 1/3 of it. */
	struct gw_psk_key *psk_key;
	uint64_t poll_usec;       /* 0: the profile's */
	const struct ynode *vars; /* mapping of device variables (profile `device:` values) or NULL */
	bool enabled;             /* false: configured but not started */
	const struct ynode *node; /* the whole entry, for messages */
};

struct gw_log_config {
	int level;  /* LOG_ERR..LOG_DEBUG */
	int target; /* enum log_target */
};

/* lwm2m.store: what is held for the server while it is away (store_fwd.c). */
struct gw_store_config {
	uint64_t max_samples; /* per endpoint (per device in gateway mode) */
	uint64_t max_bytes;   /* the same, in bytes of the queue files */
	uint64_t total_bytes; /* all of them together */
	uint64_t sync_usec;   /* fdatasync of the files at most this long after a write; 0: every write */
};

/* lwm2m.gateway_devices_max when not given: a Register of a gateway
 * endpoint lists each device's </25/N> (about 11 bytes), so 1000 keep it
 * near 11 KiB (a dozen Block1 blocks), also on every Update that follows a
 * device's arrival. */
#define GW_GATEWAY_DEVICES_MAX 1000

struct gw_lwm2m_config {
	int mode; /* enum gw_mode */
	const char *endpoint_template;
	uint64_t lifetime_usec;
	uint64_t register_rate;       /* Register/Update messages per second, all endpoints */
	uint64_t max_observations;    /* per endpoint, and per device in gateway mode */
	uint64_t gateway_devices_max; /* gateway mode: Object 25 devices per gateway endpoint */
	uint64_t probe_usec;          /* a lost server is probed at most this far apart */
	struct gw_store_config store;
	struct schema_list servers; /* of struct gw_server */
};

/* metrics: the textfile node_exporter reads (docs/operations.md). */
struct gw_metrics_config {
	const char *textfile;   /* absolute path, or NULL: none */
	uint64_t interval_usec; /* how often it is rewritten */
};

/* update: packages the LwM2M server sends (Objects 5 and 9; gateway/pkg/
 * fetches them). Parsed by config_lwm2m.c; docs/updates.md. */
/* update.max_size and update.timeout when not given. */
#define GW_UPDATE_MAX_SIZE  (64u << 20)
#define GW_UPDATE_TIMEOUT_S 60
struct gw_update_config {
	/* update.command: what installs a firmware package (Object 5 Update),
	 * "{file}" replaced by the package's path; NULL: Update fails (8). */
	const char *command;
	/* update.command_timeout: how long the command may run (fwupdate.c) */
	uint64_t command_timeout_usec;
	uint64_t max_size;   /* update.max_size: bytes, a package beyond is refused */
	unsigned schemes;    /* update.schemes: GW_PKG_COAP... (gateway/pkg/pkg.h) allowed */
	uint32_t timeout_s;  /* update.timeout: a pull without progress this long fails */
	const char *ca_file; /* update.ca_certificate: https trust anchors; NULL: the system's */
	/* update.psk_identity, update.psk_key: coaps pulls use this PSK when
	 * both are set, else certificates; NULL and len 0 when not. */
	const char *psk_identity;
	struct gw_psk_key psk_key;
};

struct gw_config {
	struct ydoc *doc;  /* owns every string below */
	char *objects_dir; /* gateway.objects_dir resolved against the file's folder, or NULL */

	struct gw_gateway_config gateway;
	struct gw_log_config log;
	struct gw_lwm2m_config lwm2m;
	struct gw_metrics_config metrics;
	struct gw_update_config update;
	char **profiles_dirs; /* profiles_path split and resolved, then the bundles'; NULL-terminated */
	/* The active profile bundles (Object 9, state_dir/bundles/NAME), by
	 * name, NULL-terminated: their profiles/ are searched after
	 * profiles_path, their objects/ loaded after objects_dir. */
	char **bundle_dirs;
	struct schema_list bridges; /* of struct gw_bridge */
	struct schema_list devices; /* of struct gw_device */

	/* devices_dir (devices_dir.c): the folder resolved (NULL for a
	 * configuration from memory), its files' documents (owning the
	 * strings of their devices, which follow the main file's in
	 * `devices`), and how many devices the main file has. */
	char *devices_dir;
	struct ydoc **devices_docs;
	size_t ndevices_docs, ndevices_main;
	/* The devices the LwM2M server created (remote.c): the folder
	 * (gateway.state_dir/devices, NULL for a configuration from memory)
	 * and how many of devices_docs, the last ones, are its files. */
	char *remote_dir;
	size_t nremote_docs;

	/* Filled by gw_config_load_profiles(): the profiles of the devices. */
	struct mapping_set *profiles;
	const struct mapping_profile **device_profiles; /* [devices.n] */
};

static inline const struct gw_device *gw_config_device(const struct gw_config *c, size_t i)
{
	return &((const struct gw_device *)c->devices.items)[i];
}

static inline const struct gw_bridge *gw_config_bridge(const struct gw_config *c, size_t i)
{
	return &((const struct gw_bridge *)c->bridges.items)[i];
}

const struct gw_bridge *gw_config_find_bridge(const struct gw_config *c, const char *name);

/* The endpoint name of device d: its override, else the template with
 * {gateway} and {device} replaced. Returns the length, or -ENAMETOOLONG. */
int gw_device_endpoint_name(const struct gw_config *c, const struct gw_device *d, char *buf, size_t size);

static inline const struct gw_server *gw_config_server(const struct gw_config *c, size_t i)
{
	return &((const struct gw_server *)c->lwm2m.servers.items)[i];
}

/* Load and validate a configuration file. Every problem goes to diag as
 * "file:line:col: message", also a secret in the file or a key file it
 * names that others can read (gw_secrets_check()). Returns 0 and *out, or a
 * negative errno (-EINVAL when the file has errors, -EBADMSG for YAML
 * syntax, -ENOENT...) with *out NULL. */
int gw_config_load_file(const char *path, struct diag *diag, struct gw_config **out);
/* A change of one file of the remote devices folder, checked before it is
 * made: file (a name in remote_dir) with text in place of what the folder
 * holds, or without it when text is NULL. */
struct gw_remote_change {
	const char *file;
	const char *text;
	/* A profile bundle (Object 9) in place of what state_dir/bundles
	 * holds: bundle (a name) read from bundle_dir, or not at all when
	 * bundle_dir is NULL (uninstalled or deactivated). bundle NULL: none. */
	const char *bundle;
	const char *bundle_dir;
};
/* gw_config_load_file() as if ch were made (NULL: none). */
int gw_config_load_file_change(const char *path, const struct gw_remote_change *ch, struct diag *diag,
			       struct gw_config **out);
/* Where device d is configured: "remote" for a device of remote_dir,
 * else the file it is written in. */
const char *gw_device_source(const struct gw_config *c, const struct gw_device *d);
bool gw_device_is_remote(const struct gw_config *c, const struct gw_device *d);
/* Like gw_config_load_file(), but when the file has errors (-EINVAL),
 * *partial gets what could be parsed, so that `fieldgate check` can go on
 * checking the device profiles and report their errors too. Free it with
 * gw_config_free(); never run it. */
int gw_config_load_file_partial(const char *path, struct diag *diag, struct gw_config **out,
				struct gw_config **partial);
/* Same from memory; name is used in diagnostics. A relative objects_dir is
 * taken relative to the current directory. */
int gw_config_load_buffer(const char *name, const void *data, size_t len, struct diag *diag,
			  struct gw_config **out);
struct gw_config *gw_config_free(struct gw_config *c); /* accepts NULL, returns NULL */

/* The built-in LwM2M object definitions plus those of objects_dir (when
 * configured). DDF problems are reported through diag at their file:line:col
 * and make the result an error, like any configuration error. Returns 0 and
 * *out (*loaded: how many came from objects_dir), or a negative errno. */
int gw_config_load_objects(const struct gw_config *c, struct diag *diag, struct lwm2m_registry **out,
			   size_t *loaded);

/* Load every device's profile from the profile search path, checked against
 * reg (which must outlive c), and check that profile and bridge agree.
 * Problems go to diag at the device's `profile:`. Returns 0 or -EINVAL,
 * -ENOMEM. */
int gw_config_load_profiles(struct gw_config *c, const struct lwm2m_registry *reg, struct diag *diag);

/* ---- profile bundles (config_bundle.c, Object 9; docs/updates.md) ---- */

/* The bundle in dir, as part of c (loaded with it, gw_config_load_profiles()
 * done): every profile it lists loads (errors at their file:line:col), none
 * has the name of a profile of the folders searched before it (those
 * would win: a clash is an error naming both files), and none of its
 * objects redefines one built in or of objects_dir. 0 or -EINVAL
 * (reported), -ENOMEM. */
int gw_config_check_bundle(struct gw_config *c, const char *dir, struct diag *diag);
/* The object definitions of the bundle in dir into a running registry:
 * a file whose objects reg knows already (an earlier version of the
 * bundle) is left out, as definitions in use are never replaced; it
 * takes effect at the next start. Returns how many files were loaded. */
int gw_config_bundle_objects_add(struct lwm2m_registry *reg, const char *dir);

size_t gw_config_device_count(const struct gw_config *c);
size_t gw_config_bridge_count(const struct gw_config *c);
const char *gw_mode_to_string(int mode);
const char *gw_security_to_string(int security);

/* The one-paragraph summary `fieldgate check` prints; malloc'ed, NULL on
 * OOM. reg may be NULL. */
char *gw_config_summary(const struct gw_config *c, const char *path, const struct lwm2m_registry *reg,
			size_t loaded);

/* ---- secrets in the configuration (secrets.c) ------------------------- */

/* Who besides the owner can read a file of this mode and owner: "others",
 * "its group" (unless root owns it: root:fieldgate 0640 is how secrets are
 * installed for the service), or NULL when nobody. */
const char *gw_secret_readers(mode_t mode, uid_t owner);

/* A secret the loader read from a file or a systemd credential and put in
 * the document in place of `X_file:` / `X_credential:` (gw_secrets_resolve). */
struct gw_secret_ref {
	const struct ynode *value; /* the secret's node now in the document */
	char key[64];              /* as written: "psk_key_file" */
	char base[64];             /* the key it stands for: "psk_key" */
	const char *file;          /* the configuration file (node->file of the key) */
	unsigned line, col;        /* of the key as written */
	bool secret;               /* the parse took it as a secret value */
};

/* The secrets a parse met (schema_secret_fn gw_secret_seen, ud a zeroed
 * struct gw_secret_scan): the first secret value written in the file and
 * their count, every value naming a file that holds a secret, and the
 * secrets resolved from files and credentials. */
struct gw_secret_file {
	const struct ynode *node;
	char *key; /* its path: "bridges.broker.tls.key" */
};
struct gw_secret_in {
	const struct ynode *value; /* the first secret value written in a file */
	char key[600];             /* its path: "lwm2m.servers[0].psk_key" */
	size_t n;                  /* how many that file holds */
};
struct gw_secret_scan {
	struct gw_secret_in *in; /* per file that holds a secret written in it */
	size_t nin;
	struct gw_secret_file *files;
	size_t nfiles, cap;
	struct gw_secret_ref *refs;
	size_t nrefs;
	bool oom;
};
void gw_secret_seen(void *ud, const struct ynode *value, const char *key, enum schema_secret kind);
/* Before the parse: every pair `X_file: /path` or `X_credential: NAME` of
 * doc (at any depth) becomes `X: <the secret>` (ydoc_replace_pair), read
 * from the file or from $CREDENTIALS_DIRECTORY/NAME (the systemd
 * credential; when that variable is not set, as for `fieldgate check` run
 * by hand, /run/credentials/fieldgate.service/NAME: the running service's,
 * readable by root). The file must be a regular file nobody else can read
 * (gw_secret_readers()), hold one line (one final newline is dropped), at
 * most 4 KiB, no NUL. Problems are reported at the key as written; such a
 * pair becomes `X: null`. Each secret put in is recorded in s for
 * gw_secrets_check(). Returns 0, -EINVAL when something was reported,
 * -ENOMEM. */
int gw_secrets_resolve(struct ydoc *doc, struct diag *diag, struct gw_secret_scan *s);
/* Report (at the value's position, naming the file and its mode) a secret
 * value written in a file of docs (the main file, devices_dir's) that
 * others can read, every named file that exists and others can read, and
 * an `X_file:` / `X_credential:` whose X the parse did not take as a
 * secret. Returns 0, -EACCES when something was reported, -ENOMEM. */
int gw_secrets_check(const struct gw_secret_scan *s, struct ydoc *const *docs, size_t ndocs,
		     struct diag *diag);
void gw_secret_scan_clear(struct gw_secret_scan *s);

/* ---- gateway.devices_dir (devices_dir.c) ------------------------------ */

/* Before the parse of c->doc, read from the file at path: read the *.yaml
 * and *.yml files of devices_dir (gateway.devices_dir as written, relative
 * to path's folder; default devices.d there, which may be missing) in name
 * order into c->devices_docs, their secrets resolved into secrets. YAML
 * problems go to diag with their positions. Returns 0, -EINVAL (reported),
 * -ENOMEM. */
int gw_devices_dir_load(struct gw_config *c, const char *path, struct diag *diag,
			struct gw_secret_scan *secrets);
/* The same for the devices the LwM2M server created: the *.yaml files of
 * gateway.state_dir/devices (which may be missing), with ch applied (may
 * be NULL), appended to c->devices_docs after devices_dir's. */
int gw_remote_dir_load(struct gw_config *c, const char *path, const struct gw_remote_change *ch,
		       struct diag *diag, struct gw_secret_scan *secrets);
/* In the parse (the root section's check, before the whole-file rules):
 * parse each file's `devices:` with device (the list element of the main
 * file's) and append them to c->devices. Returns 0 or -ENOMEM. */
int gw_devices_dir_merge(struct schema_ctx *ctx, struct gw_config *c, const struct schema_key *device);
/* How many devices come from devices_dir's files (remote false) or from
 * the remote folder's (true). */
size_t gw_devices_dir_count(const struct gw_config *c, bool remote);

/* ---- devices the LwM2M server created (remote.c) ------------------------ */

/* One device as Object 26242 gives it (strings, NULL or "" when not set). */
struct gw_remote_device {
	const char *name, *bridge, *address, *profile;
	const char *vars; /* a JSON object: the profile's device variables */
	int64_t poll_s;   /* 0: the profile's */
	bool enabled;
	int instance; /* its Object 26242 instance id, kept in the file; -1: none */
};
/* Its devices file, in the configuration's syntax (malloc'ed into *out).
 * Values are quoted; a unit id stays a number, an address or vars given
 * as JSON (one line) a flow collection, checked by the loader after.
 * -EINVAL with the reason in why, -ENOMEM. */
int gw_remote_yaml(const struct gw_remote_device *d, char **out, char *why, size_t size);
/* Make file of dir hold text (created 0600, dir 0700 when missing), or
 * remove it (text NULL): atomically and durably. 0 or a negative errno. */
int gw_remote_persist(const char *dir, const char *file, const char *text);
/* The Object 26242 instance id gw_remote_yaml() wrote into file (a
 * comment the loader ignores), or -ENOENT. */
int gw_remote_instance(const char *file);
/* What file of dir holds now (malloc'ed, NUL-terminated) into *out: 0,
 * -ENOENT when there is no such file, another negative errno. */
int gw_remote_read(const char *dir, const char *file, char **out);

/* ---- store-and-forward (store_fwd.c) ------------------------------------ */

struct lwm2m_client_config;
struct lwm2m_endpoint_config;
struct lwm2m_client;
struct lwm2m_endpoint;
struct lwm2m_device;
struct lwm2m_sf_stats;

/* The client settings of lwm2m.store and lwm2m.probe_interval. */
void gw_sf_client_config(const struct gw_config *c, struct lwm2m_client_config *cc);
/* An endpoint's settings of its server entry (queue_mode, notification_storing). */
void gw_sf_endpoint_config(const struct gw_server *sv, struct lwm2m_endpoint_config *ec);
/* ", held N, dropped M" for a device's status line (empty when neither
 * happened) of its store-and-forward counters, into buf. */
void gw_sf_device_note(const struct lwm2m_sf_stats *st, char *buf, size_t size);
/* The status line of what is held for the server, when values are held or
 * were dropped. */
void gw_sf_status(const struct lwm2m_client *c, FILE *out);

/* ---- the state directory (state_dir.c) -------------------------------- */

/* `run`: path (gateway.state_dir) exists as a directory, or is created:
 * missing parents 0755, itself 0700, owned by the running user. Returns 1
 * when created, 0 when it was there, or a negative errno (-ENOTDIR when it
 * is something else) with the path that failed in failed. */
int gw_state_dir_create(const char *path, char *failed, size_t size);
/* 0 when this process may create files in path, else the negative errno. */
int gw_state_dir_writable(const char *path);
/* `check`: what `run` will find, at gateway.state_dir's position: an error
 * when it cannot be a directory, a warning when it is missing (run creates
 * it) or this user cannot write it (check may run as another user). */
void gw_state_dir_check(const struct gw_config *c, struct diag *diag);

/* ---- validators, public for tests ------------------------------------- */

/* Parse coap://host[:port] or coaps://host[:port] (an optional trailing '/',
 * IPv4, [IPv6] or DNS host; no userinfo, path, query, fragment). On error
 * returns -EINVAL and writes the reason to why. */
int gw_uri_parse(const char *s, struct gw_uri *out, char *why, size_t why_size);
/* Letters, digits, '.', '_', '-'; first a letter or digit; 1..GW_NAME_MAX. */
bool gw_name_is_valid(const char *s);
/* The one check of a device's name, configured or discovered: a valid name
 * (gw_name_is_valid()) that, in gateway mode (enum gw_mode), is not all
 * digits, since it is the device's Object 25 prefix. Returns 0, -EINVAL
 * (its characters) or -EDOM (all digits), with the reason in why (may be
 * NULL), as "use 1 to 64 letters, ...". */
int gw_device_name_check(const char *name, int mode, char *why, size_t why_size);
/* "{gateway}-{device}": placeholders {gateway} and {device}, other text
 * endpoint-safe. -EINVAL with the reason in why. */
int gw_endpoint_template_check(const char *t, bool need_device, char *why, size_t why_size);

/* ---- the command --------------------------------------------------------- */

struct gw_options {
	const char *config_path;
	bool config_given; /* -c on the command line (else the default path, which may be missing) */
	int log_level;     /* -1: from the configuration */
	int log_target;    /* -1: from the configuration */
};

/* `fieldgate check`: load and validate everything, print every problem to
 * err and the summary to out. Returns the exit code: 0 valid, 1 errors. */
int gw_check(const struct gw_options *opt, FILE *out, FILE *err);

/* ---- firmware install (fwinstall.c) -------------------------------------- */

/* The one unit the daemon may start under systemd (systemd/, polkit rule). */
#define GW_FW_UNIT "fieldgate-update.service"

/* update.command with every {file} replaced by file in single quotes for
 * /bin/sh (nothing in it interpreted); NULL: out of memory. */
char *gw_fw_command_line(const char *cmd, const char *file);
/* `/bin/sh -c line` as a child in its own process group, stdin /dev/null,
 * no signal blocked. */
int gw_fw_spawn(const char *line, pid_t *pid);
struct stat;
/* Who besides root, the fieldgate user and group and the caller could
 * change a file of this stat ("others", "its group", "its owner"); NULL:
 * nobody. */
const char *gw_fw_writers(const struct stat *st);

/* How the command of the last `fieldgate install-update` ended:
 * state_dir/firmware/outcome, replaced atomically, readable by the owner
 * of the folder (the daemon's user). */
enum gw_fw_kind { GW_FW_EXITED, GW_FW_KILLED, GW_FW_TIMEOUT, GW_FW_REFUSED };
struct gw_fw_outcome {
	enum gw_fw_kind kind;
	int status; /* exit status, or the signal */
	time_t time;
};
int gw_fw_outcome_write(const char *dir, const struct gw_fw_outcome *o);
/* The file's text: its length, or -ENOBUFS. */
int gw_fw_outcome_format(const struct gw_fw_outcome *o, char *buf, size_t size);
/* 0, or -EBADMSG: not an outcome. */
int gw_fw_outcome_parse(const char *text, size_t len, struct gw_fw_outcome *o);
/* -ENOENT: none recorded; -EBADMSG: not an outcome file. */
int gw_fw_outcome_read(const char *dir, struct gw_fw_outcome *o);
bool gw_fw_outcome_ok(const struct gw_fw_outcome *o);

/* `fieldgate install-update`: update.command (from opt's configuration
 * file, refused if others than root and fieldgate may write it) on
 * state_dir/firmware/package, bounded by update.command_timeout, the
 * outcome recorded. Returns the exit code: 0 the command exited 0, else 1. */
int gw_install_update(const struct gw_options *opt, FILE *err);

/* `fieldgate profile check FILE...` / `fieldgate profile test [PROFILE]
 * [options]` (profile_cmd.c): argv starts at "check" or "test". Profiles are
 * found, and objects known, as the configuration says when it loads (else
 * the built-in objects and the default profile path). Returns the exit
 * code: 0, 1 (a profile or a captured value in error), 2 (usage). */
int gw_profile_command(const struct gw_options *opt, int argc, char **argv, FILE *out, FILE *err);
/* Its lines of `fieldgate --help`, with every bridge kind's capture options. */
void gw_profile_help(FILE *out);

/* ---- the status socket (status.c) ------------------------------------- */

struct gw_registry;
struct gw_status_server;

/* The socket's path: configured (gateway.status_socket), else
 * $RUNTIME_DIRECTORY/fieldgate.sock, else /run/fieldgate/fieldgate.sock. */
const char *gw_status_socket_path(const char *configured, char *buf, size_t size);
/* Answer one request line into out; negative errno when it failed. */
typedef int (*gw_status_fn)(void *ud, const char *request, FILE *out);
/* Listen on the socket (mode 0660) from ev. A socket that cannot be created
 * is logged and *out stays NULL: the gateway runs without it. */
int gw_status_server_new(sd_event *ev, const char *configured, gw_status_fn fn, void *ud,
			 struct gw_status_server **out);
struct gw_status_server *gw_status_server_free(struct gw_status_server *s); /* removes the file */
/* The requests other than "status": "sample DEVICE PATH VALUE" (a sample as
 * a bridge would deliver it, a typed value parsed from the text) and
 * "presence DEVICE ERRNO". */
int gw_status_command(struct gw_registry *r, const char *request, FILE *out);
/* The client side: send request, copy the answer to out. Returns the exit
 * code (1 when the daemon cannot be reached or answers "error: ..."). */
int gw_status_client(const char *configured, const char *request, FILE *out, FILE *err);

/* The socket the daemon's commands (status, metrics, sample, presence)
 * use (ctl.c): *out = gateway.status_socket of opt's configuration (in
 * buf), or NULL for the default. Only that key is read: a configuration
 * being edited, or whose secrets this user cannot read, still names it.
 * A configuration given with -c that cannot be read is an error (said on
 * err, returns the negative errno); the default one is said on err and
 * the default socket used. */
int gw_ctl_socket(const struct gw_options *opt, char *buf, size_t size, const char **out, FILE *err);

/* `fieldgate run`: the daemon. Returns the exit code: 0 after SIGTERM or
 * SIGINT, 1 when the configuration is invalid or startup fails. */
int gw_daemon_run(const struct gw_options *opt);
/* gw_daemon_run()'s answer to the server's Reboot (gateway.reboot daemon):
 * everything is de-registered and freed; main() executes the program
 * again with its arguments (exit 1 if it cannot, which the unit's
 * Restart=on-failure restarts). */
#define GW_DAEMON_REEXEC 100

/* The version this program reports (/3/0/3, /5/0/7, status, metrics):
 * FIELDGATE_VERSION, from one small compilation unit (version.c) so the
 * tests can link a second program that differs only in it. */
extern const char gw_version[];

/* Factory Reset (reboot.c): remove the devices the LwM2M server created
 * (*.yaml of remote_dir, may be NULL) and the client's bootstrap results
 * (bs-*.state of state_dir). 0 or the first negative errno. */
int gw_factory_reset(const char *state_dir, const char *remote_dir);
/* Ask logind (org.freedesktop.login1.Manager.Reboot, not interactive) on
 * the system bus to reboot the host. 0 or a negative errno (logged with
 * the bus's reason). */
int gw_host_reboot(void);
/* After the server's Reboot or Factory Reset de-registered everything:
 * Factory Reset forgets the devices the server created and the bootstrap
 * results; then logind reboots the host (gateway.reboot host: returns 0),
 * or the daemon is to start again (GW_DAEMON_REEXEC), also when logind
 * refuses. */
int gw_reboot_finish(const struct gw_config *c, bool factory_reset);
