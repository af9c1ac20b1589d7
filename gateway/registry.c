/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device registry: configuration -> LwM2M endpoints / Object 25
 * devices, samples -> resource values, reload by difference. See
 * registry.h.
 */
#include "gateway/registry.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "common/log.h"
#include "common/resolve.h"
#include "bridges/bridge.h"
#include "lwm2m/client.h"

/* A configuration and the devices still built from it. */
struct gen {
	struct gw_config *config;
	unsigned refs; /* devices + 1 while current */
	struct gen *next;
};

/* A running bridge instance. */
struct brt {
	char *name, *fingerprint;
	const struct bridge_ops *ops;
	struct bridge *b; /* NULL when it could not be created */
	bool keep;
};

/* A Write or Execute waiting for the field: answered once, when every
 * bridge operation of it completed or after WRITE_TIMEOUT. */
struct wgroup {
	struct gw_registry *r;
	struct wgroup *next;
	char *device;
	unsigned pending;
	int err;
	bool answered;
	lwm2m_done_fn done;
	void *done_ctx;
	sd_event_source *timer;
};

struct wop {
	struct wgroup *g;
	struct lwm2m_path path;
	struct lwm2m_value v; /* what to store once the device acknowledged */
	uint8_t *bytes;
	struct mapping_sample smp; /* the encoded value; may point into buf or the request */
	uint8_t buf[512];
};

#define WRITE_TIMEOUT_USEC (30 * USEC_PER_SEC)

struct dev {
	struct gw_registry *r;
	struct brt *br;  /* its bridge, NULL without (or when it failed) */
	struct gen *gen; /* the configuration the device was built from */
	const struct gw_device *cfg;
	const struct mapping_profile *profile;
	char *name, *endpoint, *fingerprint;
	struct lwm2m_store *store;
	struct lwm2m_endpoint *ep; /* endpoint mode */
	struct lwm2m_device *dev;  /* gateway mode */
	int state;                 /* enum lwm2m_ep_state */
	int presence;              /* 0 reachable, else -errno */
	uint64_t last_sample;      /* CLOCK_MONOTONIC usec, 0: never */
	uint64_t *pt_sample;       /* the same per profile point (by index); NULL: none yet */
	uint64_t samples, errors, unreachable, reg_failures;
	size_t order;      /* position in the configuration */
	bool keep;         /* reload bookkeeping */
	struct disc *disc; /* a discovered device's made-up configuration, NULL when configured */
	bool obs_dirty;    /* its observations changed: tell the bridge (on_obs_defer) */
	uint64_t *hint;    /* per profile point: the period last given to ops->observed; NULL: none */
};

/* A device a bridge discovered (bridge_host.discover): its configuration
 * entry is made here instead of read from the file, and lives with it. */
struct disc {
	struct gw_device cfg;
	struct ynode address;
	char *name, *bridge, *profile, *address_text;
};

/* Discovered devices are listed after the configured ones in status. */
#define ORDER_DISCOVERED ((size_t)1 << 30)

/* Registration state of an endpoint that waits for its server's address
 * (not one of enum lwm2m_ep_state). */
#define STATE_RESOLVING (-1)

#define RESOLVE_BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define RESOLVE_BACKOFF_MAX_USEC (300 * USEC_PER_SEC)

/* A configured server's host, turned into the numeric URI the client
 * wants: at once for an address, by an asynchronous lookup for a name. */
struct hostres {
	struct gw_registry *r;
	char *host; /* NULL: no such server */
	const char *scheme;
	unsigned port;
	char uri[INET6_ADDRSTRLEN + 32]; /* set when ready */
	bool ready;
	int gai;            /* last failure, 0: none */
	struct resolve *rs; /* pending lookup */
	sd_event_source *retry;
	uint64_t backoff;
};

struct gw_registry {
	sd_event *event;
	const struct lwm2m_registry *objects;
	struct lwm2m_client *client;
	struct gen *gens; /* newest first */
	char *global;     /* fingerprint of the settings every endpoint depends on */
	char *state_dir;  /* the client's (bootstrap results) */

	struct lwm2m_store *gw_store;
	struct lwm2m_endpoint *gw_ep;
	int gw_state;
	uint64_t gw_failures;

	struct dev **devs; /* sorted by name */
	size_t n;

	struct brt *bridges;
	size_t nbridges;
	struct wgroup *groups; /* writes/executes waiting for bridges */
	struct dev *starting;  /* being started, not yet in devs: bridges may report on it */

	struct hostres hosts[2]; /* the main server's, the bootstrap server's */

	sd_event_source *change_timer;
	void (*on_change)(void *ud);
	void *on_change_ud;

	sd_event_source *obs_defer; /* observation hints for the bridges, after the request */
	size_t discovered;          /* devices discovered so far (their status order) */
	bool closing;               /* gw_registry_shutdown() called: no new endpoints */
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const struct gw_config *current(const struct gw_registry *r)
{
	return r->gens->config;
}

/* ---- generations ----------------------------------------------------------- */

static struct gen *gen_ref(struct gen *g)
{
	g->refs++;
	return g;
}

static void gen_unref(struct gw_registry *r, struct gen *g)
{
	if (!g || --g->refs > 0)
		return;
	for (struct gen **p = &r->gens; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	gw_config_free(g->config);
	free(g);
}

/* ---- logging ---------------------------------------------------------------- */

static void client_log(void *ud, int level, const char *ep, const char *msg)
{
	char field[300];
	const char *fields[2] = { NULL, NULL };

	(void)ud;
	if (ep) {
		snprintf(field, sizeof(field), "ENDPOINT=%s", ep);
		fields[0] = field;
		log_full_fields_errno(level, 0, fields, "%s: %s", ep, msg);
	} else
		log_full_fields_errno(level, 0, NULL, "%s", msg);
}

/* ---- fingerprints: what makes a device "changed" ----------------------------- */

static void node_print(FILE *f, const struct ynode *n)
{
	if (!n) {
		fputs("~", f);
		return;
	}
	switch (n->kind) {
	case YNODE_SCALAR:
		fputc('"', f);
		fwrite(n->scalar.str, 1, n->scalar.len, f);
		fputc('"', f);
		break;
	case YNODE_SEQ:
		fputc('[', f);
		for (size_t i = 0; i < n->seq.n; i++) {
			node_print(f, &n->seq.items[i]);
			fputc(',', f);
		}
		fputc(']', f);
		break;
	default:
		fputc('{', f);
		for (size_t i = 0; i < n->map.n; i++) {
			node_print(f, ynode_map_key(n, i));
			fputc(':', f);
			node_print(f, ynode_map_value(n, i));
			fputc(',', f);
		}
		fputc('}', f);
	}
}

/* The profile's file content (a changed profile file changes its devices). */
static void file_print(FILE *f, const char *path)
{
	FILE *in = path ? fopen(path, "re") : NULL;
	char buf[4096];
	size_t n;

	if (!in)
		return;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, f);
	fclose(in);
}

static char *device_fingerprint(const struct gw_config *c, const struct gw_device *d,
				const struct mapping_profile *p, const char *endpoint)
{
	const struct gw_bridge *b = d->bridge ? gw_config_find_bridge(c, d->bridge) : NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "ep=%s\nbridge=%s\npoll=%llu\nprofile=%s\n", endpoint, d->bridge ? d->bridge : "",
		(unsigned long long)d->poll_usec, d->profile);
	/* The bridge's body too: a device on a changed bus re-registers. */
	fputs("bridge-body=", f);
	node_print(f, b ? b->body : NULL);
	fputs("\naddress=", f);
	node_print(f, d->address);
	fputs("\nvars=", f);
	node_print(f, d->vars);
	fprintf(f, "\npsk=%s:", d->psk_identity ? d->psk_identity : "");
	for (size_t i = 0; i < d->psk_key.len; i++)
		fprintf(f, "%02x", d->psk_key.bytes[i]);
	fputs("\nprofile-file=", f);
	file_print(f, mapping_profile_file(p));
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static const struct gw_server *main_server(const struct gw_config *c)
{
	for (size_t i = 0; i < c->lwm2m.servers.n; i++)
		if (!gw_config_server(c, i)->bootstrap)
			return gw_config_server(c, i);
	return NULL;
}

static const struct gw_server *bootstrap_server(const struct gw_config *c)
{
	for (size_t i = 0; i < c->lwm2m.servers.n; i++)
		if (gw_config_server(c, i)->bootstrap)
			return gw_config_server(c, i);
	return NULL;
}

static char *global_fingerprint(const struct gw_config *c)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "gw=%s\nmode=%d\nlt=%llu\n", c->gateway.name, c->lwm2m.mode,
		(unsigned long long)c->lwm2m.lifetime_usec);
	for (size_t k = 0; k < c->lwm2m.servers.n; k++) {
		const struct gw_server *sv = gw_config_server(c, k);
		fprintf(f, "uri=%s\nbs=%d\nsec=%d\nq=%d\nstoring=%d\nid=%s\ncert=%s:%s:%s\nname=%s\nkey=",
			sv->uri.text, sv->bootstrap, sv->security, sv->queue_mode, sv->notification_storing,
			sv->psk_identity ? sv->psk_identity : "", sv->certificate ? sv->certificate : "",
			sv->private_key ? sv->private_key : "", sv->ca_certificate ? sv->ca_certificate : "",
			sv->server_name ? sv->server_name : "");
		for (size_t i = 0; i < sv->psk_key.len; i++)
			fprintf(f, "%02x", sv->psk_key.bytes[i]);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- endpoints ------------------------------------------------------------------ */

static void schedule_change(struct gw_registry *r);
static void endpoints_resume(struct gw_registry *r);

/* The client wants a numeric host. An address is used as it is; a name is
 * looked up off the loop (common/resolve.h): the status socket, signals and
 * every other endpoint keep running meanwhile. */

static void format_uri(struct hostres *h, int family, const char *addr)
{
	snprintf(h->uri, sizeof(h->uri), family == AF_INET6 ? "%s://[%s]:%u" : "%s://%s:%u", h->scheme, addr,
		 h->port);
}

static void host_cancel(struct hostres *h)
{
	h->rs = resolve_cancel(h->rs);
	h->retry = sd_event_source_disable_unref(h->retry);
}

static int host_lookup(struct hostres *h);

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
	struct hostres *h = ud;

	(void)s;
	(void)usec;
	h->retry = sd_event_source_disable_unref(h->retry);
	(void)host_lookup(h);
	return 0;
}

static void host_failed(struct hostres *h, int gai, int sys_errno)
{
	char delay[32];
	const char *why = gai == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(gai);

	h->backoff = h->backoff ? h->backoff * 2 : RESOLVE_BACKOFF_MIN_USEC;
	if (h->backoff > RESOLVE_BACKOFF_MAX_USEC)
		h->backoff = RESOLVE_BACKOFF_MAX_USEC;
	snprintf(delay, sizeof(delay), "%llu s", (unsigned long long)(h->backoff / USEC_PER_SEC));
	/* Once per failure streak (and when the reason changes): a host
	 * that stays unknown must not flood the journal every retry. */
	if (h->gai != gai)
		log_error("Cannot resolve LwM2M server host '%s': %s; retrying with backoff (next in %s)",
			  h->host, why, delay);
	else
		log_debug("LwM2M server host '%s' still not resolved: %s; next try in %s", h->host, why,
			  delay);
	h->gai = gai;
	if (sd_event_add_time_relative(h->r->event, &h->retry, CLOCK_MONOTONIC, h->backoff, USEC_PER_SEC / 10,
				       on_retry, h) < 0)
		log_error("Cannot schedule the next lookup of '%s'", h->host);
	schedule_change(h->r);
}

static void on_resolved(void *ud, int gai, int sys_errno, const struct resolve_addr *addrs, size_t n)
{
	struct hostres *h = ud;
	const char *addr;

	h->rs = NULL;
	if (gai != 0 || n == 0) {
		host_failed(h, gai ? gai : EAI_NONAME, sys_errno);
		return;
	}
	/* CoAP over UDP learns nothing from a connect: the first address. */
	addr = addrs[0].text;
	format_uri(h, addrs[0].family, addr);
	h->ready = true;
	if (h->gai != 0)
		log_info("LwM2M server host '%s' resolved to %s", h->host, addr);
	else
		log_debug("LwM2M server host '%s' resolved to %s", h->host, addr);
	h->gai = 0;
	h->backoff = 0;
	endpoints_resume(h->r);
}

/* Starts a lookup of h->host; a failure to start one is retried like a
 * failed lookup. */
static int host_lookup(struct hostres *h)
{
	int e;

	host_cancel(h);
	e = resolve_start(h->r->event, h->host, SOCK_DGRAM, on_resolved, h, &h->rs);
	if (e < 0) {
		host_failed(h, e == -ENOMEM ? EAI_MEMORY : EAI_SYSTEM, -e);
		return e;
	}
	log_debug("Resolving LwM2M server host '%s'", h->host);
	return 0;
}

static void host_clear(struct hostres *h)
{
	host_cancel(h);
	free(h->host);
	*h = (struct hostres){ 0 };
}

/* (Re)starts resolving the current configuration's server hosts. */
static void hosts_setup(struct gw_registry *r)
{
	const struct gw_config *c = current(r);
	const struct gw_server *sv[2] = { main_server(c), bootstrap_server(c) };

	for (size_t i = 0; i < 2; i++) {
		struct hostres *h = &r->hosts[i];
		char addr[INET6_ADDRSTRLEN];
		int family = AF_INET;

		host_clear(h);
		h->r = r;
		if (!sv[i])
			continue;
		h->scheme = sv[i]->uri.scheme == GW_SCHEME_COAPS ? "coaps" : "coap";
		h->port = sv[i]->uri.port;
		h->host = strdup(sv[i]->uri.host);
		if (!h->host) {
			log_oom();
			continue;
		}
		/* An address: no lookup. */
		if (resolve_numeric(h->host, &family, addr, sizeof(addr)) == 0) {
			format_uri(h, family, addr);
			h->ready = true;
			continue;
		}
		(void)host_lookup(h);
	}
}

/* A reload with the same servers: a lookup that is pending or failing
 * starts over now (the administrator's "try again"); answers kept. */
static void hosts_retry(struct gw_registry *r)
{
	for (size_t i = 0; i < 2; i++) {
		struct hostres *h = &r->hosts[i];
		if (h->host && !h->ready) {
			h->backoff = 0;
			(void)host_lookup(h);
		}
	}
}

static bool hosts_ready(const struct gw_registry *r)
{
	for (size_t i = 0; i < 2; i++)
		if (r->hosts[i].host && !r->hosts[i].ready)
			return false;
	return true;
}

static void dev_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct dev *d = ud;

	(void)ep;
	d->state = st;
	if (err < 0)
		d->reg_failures++;
	schedule_change(d->r);
}

static void gw_state(void *ud, struct lwm2m_endpoint *ep, enum lwm2m_ep_state st, int err)
{
	struct gw_registry *r = ud;

	(void)ep;
	{
		r->gw_state = st;
		if (err < 0)
			r->gw_failures++;
		/* In gateway mode the devices are registered with the gateway. */
		if (current(r)->lwm2m.mode == GW_MODE_GATEWAY)
			for (size_t i = 0; i < r->n; i++)
				r->devs[i]->state = st;
	}
	schedule_change(r);
}

static int dev_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		     lwm2m_done_fn done, void *done_ctx);
static int dev_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		       const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		       void *done_ctx);
static int gw_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx);
static int dev_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx);
static int gw_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		   const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx);
static int gw_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx);

/* The gateway endpoint: its own tree is written directly (write NULL is not
 * possible once execute is set, so gw_write does it), Object 25 devices go
 * through their profile and bridge. */
static void dev_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev);
static void gw_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev);
static const struct lwm2m_endpoint_ops gw_ep_ops = { .write = gw_write,
						     .execute = gw_execute,
						     .read = gw_read,
						     .state = gw_state,
						     .observations_changed = gw_obs_changed };
static const struct lwm2m_endpoint_ops dev_ep_ops = { .write = dev_write,
						      .execute = dev_execute,
						      .read = dev_read,
						      .state = dev_state,
						      .observations_changed = dev_obs_changed };

static int add_endpoint(struct gw_registry *r, const char *name, const struct gw_device *d,
			struct lwm2m_store *store, void *ud, struct lwm2m_endpoint **out)
{
	const struct gw_config *c = current(r);
	const struct gw_server *sv = main_server(c), *bs = bootstrap_server(c);
	struct lwm2m_endpoint_config ec = {
		.name = name,
		.lifetime = (uint32_t)(c->lwm2m.lifetime_usec / 1000000u),
		.ops = d ? &dev_ep_ops : &gw_ep_ops,
		.ops_ud = ud,
	};
	int r2;

	if (!sv && !bs)
		return -EINVAL;
	if (!hosts_ready(r))
		return -EAGAIN; /* callers wait for endpoints_resume() */
	if (sv)
		ec.server_uri = r->hosts[0].uri;
	gw_sf_endpoint_config(sv, &ec);
	/* Factory bootstrap: the client asks the Bootstrap-Server for its
	 * account unless a kept bootstrap result exists (state_dir); the
	 * server entry above is then not used. */
	if (bs) {
		ec.bootstrap_uri = r->hosts[1].uri;
		if (bs->security == GW_SECURITY_PSK) {
			ec.bootstrap_psk_identity = bs->psk_identity;
			ec.bootstrap_psk_key = bs->psk_key.bytes;
			ec.bootstrap_psk_key_len = bs->psk_key.len;
		}
	}
	if (d && d->psk_identity) {
		ec.psk_identity = d->psk_identity;
		ec.psk_key = d->psk_key.bytes;
		ec.psk_key_len = d->psk_key.len;
	} else if (sv && sv->security == GW_SECURITY_PSK) {
		ec.psk_identity = sv->psk_identity;
		ec.psk_key = sv->psk_key.bytes;
		ec.psk_key_len = sv->psk_key.len;
	} else if (sv && sv->security == GW_SECURITY_CERTIFICATE) {
		/* One certificate for the gateway and every endpoint it hosts. */
		ec.cert_file = sv->certificate;
		ec.key_file = sv->private_key;
		ec.ca_file = sv->ca_certificate;
		/* server_uri holds the address a name resolved to: the
		 * certificate must name the host as configured. */
		ec.server_name = sv->server_name ? sv->server_name : sv->uri.host;
	}
	r2 = lwm2m_endpoint_add(r->client, &ec, store, out);
	if (r2 < 0)
		return log_error_errno(r2, "Cannot add LwM2M endpoint %s: %m", name);
	return 0;
}

static int set_text(struct lwm2m_store *s, const char *path, const char *text)
{
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_STRING,
				 .bytes = { (const uint8_t *)text, strlen(text) } };
	int r = lwm2m_path_parse(path, strlen(path), &p, NULL);

	return r < 0 ? r : lwm2m_store_set(s, &p, &v);
}

static int set_int(struct lwm2m_store *s, const char *path, int64_t i)
{
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_INTEGER, .i = i };
	int r = lwm2m_path_parse(path, strlen(path), &p, NULL);

	return r < 0 ? r : lwm2m_store_set(s, &p, &v);
}

/* The gateway's own Device object. */
static int gateway_store(struct gw_registry *r, struct lwm2m_store **out)
{
	struct lwm2m_store *s = lwm2m_store_new(r->objects);
	struct sysinfo si;
	int e;

	if (!s)
		return -ENOMEM;
	e = lwm2m_store_add_instance(s, 3, 0);
	if (e >= 0)
		e = set_text(s, "/3/0/0", "fieldgate project");
	if (e >= 0)
		e = set_text(s, "/3/0/1", "fieldgate");
	if (e >= 0)
		e = set_text(s, "/3/0/2", current(r)->gateway.name);
	if (e >= 0)
		e = set_text(s, "/3/0/3", FIELDGATE_VERSION);
	if (e >= 0)
		e = set_int(s, "/3/0/11/0", 0);
	if (e >= 0)
		e = set_text(s, "/3/0/16", "U");
	/* Memory in KiB, as Object 3 defines it; read once (cheap enough to
	 * refresh later from a timer if a server cares). */
	if (e >= 0 && sysinfo(&si) == 0) {
		(void)set_int(s, "/3/0/10", (int64_t)(si.freeram * si.mem_unit / 1024));
		(void)set_int(s, "/3/0/21", (int64_t)(si.totalram * si.mem_unit / 1024));
	}
	if (e < 0) {
		lwm2m_store_free(s);
		return e;
	}
	*out = s;
	return 0;
}

/* ---- devices --------------------------------------------------------------------- */

static const char *device_var(void *ctx, const char *name)
{
	struct dev *d = ctx;
	const struct ynode *v = d->cfg->vars ? ynode_map_get(d->cfg->vars, name) : NULL;

	if (v && v->kind == YNODE_SCALAR)
		return v->scalar.str;
	if (strcmp(name, "name") == 0 || strcmp(name, "serial") == 0)
		return d->name;
	if (strcmp(name, "endpoint") == 0)
		return d->endpoint;
	if (strcmp(name, "gateway") == 0)
		return d->gen->config->gateway.name;
	if (strcmp(name, "address") == 0 && d->cfg->address && d->cfg->address->kind == YNODE_SCALAR)
		return d->cfg->address->scalar.str;
	return NULL;
}

/* The points the bridge hears of (add_point): those it reads, and those
 * only written or executed through it (it needs the device's address). */
static bool for_bridge(const struct mapping_point *pt)
{
	return pt->from == MAPPING_FROM_SOURCE || pt->write || pt->executable;
}

static struct dev *dev_free(struct dev *d)
{
	if (!d)
		return NULL;
	if (d->br && d->br->b && d->br->ops->remove_point)
		for (size_t i = 0; i < mapping_profile_npoints(d->profile); i++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, i);
			if (for_bridge(pt))
				d->br->ops->remove_point(d->br->b, d->name, &pt->path);
		}
	if (d->ep)
		lwm2m_endpoint_remove(d->ep); /* de-registers in the background */
	if (d->dev)
		lwm2m_device_remove(d->dev);
	lwm2m_store_free(d->store);
	gen_unref(d->r, d->gen);
	free(d->name);
	free(d->endpoint);
	free(d->fingerprint);
	free(d->pt_sample);
	free(d->hint);
	if (d->disc) {
		free(d->disc->name);
		free(d->disc->bridge);
		free(d->disc->profile);
		free(d->disc->address_text);
		free(d->disc);
	}
	free(d);
	return NULL;
}

/* time: of the measurement, seconds since the epoch, 0 when unknown;
 * historical: every sample is kept for the server (mapping_point). */
static int dev_set_at(struct dev *d, const struct lwm2m_path *p, const struct lwm2m_value *v, double time,
		      bool historical)
{
	int (*set)(struct lwm2m_endpoint *, struct lwm2m_device *, const struct lwm2m_path *,
		   const struct lwm2m_value *, double) =
		historical ? lwm2m_endpoint_set_historical : lwm2m_endpoint_set_at;

	if (d->ep)
		return set(d->ep, NULL, p, v, time);
	if (d->dev)
		return set(lwm2m_device_endpoint(d->dev), d->dev, p, v, time);
	return lwm2m_store_set_at(d->store, p, v, time);
}

static int dev_set(struct dev *d, const struct lwm2m_path *p, const struct lwm2m_value *v)
{
	return dev_set_at(d, p, v, 0, false);
}

static int dev_start(struct dev *d)
{
	struct gw_registry *r = d->r;
	int e;

	d->br = NULL;
	for (size_t i = 0; d->cfg->bridge && i < r->nbridges; i++)
		if (strcmp(r->bridges[i].name, d->cfg->bridge) == 0)
			d->br = &r->bridges[i];
	if (d->br && d->br->b && d->br->ops->add_point)
		for (size_t i = 0; i < mapping_profile_npoints(d->profile); i++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, i);
			struct bridge_point bp = { .device = d->name, .address = d->cfg->address, .pt = pt };
			if (!for_bridge(pt))
				continue;
			bp.poll_usec = d->cfg->poll_usec ? d->cfg->poll_usec
				       : pt->poll_usec   ? pt->poll_usec
							 : mapping_profile_poll_usec(d->profile);
			e = d->br->ops->add_point(d->br->b, &bp);
			if (e < 0) {
				char ps[32];
				lwm2m_path_format(&pt->path, ps);
				log_error_errno(e, "Device %s: bridge %s refused point %s: %m", d->name,
						d->br->name, ps);
			}
		}

	if (current(r)->lwm2m.mode == GW_MODE_GATEWAY) {
		if (!r->gw_ep) {
			/* Added with the gateway's endpoint (endpoints_resume). */
			d->state = r->gw_state;
			return 0;
		}
		e = lwm2m_endpoint_add_device(r->gw_ep, d->name, d->store, d->name, &d->dev);
		if (e < 0)
			return log_error_errno(e, "Device %s: cannot add it to the gateway endpoint: %m",
					       d->name);
		d->state = r->gw_state;
		return 0;
	}
	if (!hosts_ready(r)) {
		d->state = STATE_RESOLVING;
		return 0;
	}
	return add_endpoint(r, d->endpoint, d->cfg, d->store, d, &d->ep);
}

static int dev_new(struct gw_registry *r, struct gen *g, const struct gw_device *cfg,
		   const struct mapping_profile *profile, size_t order, struct dev **out)
{
	const struct gw_config *c = g->config;
	char ep[256];
	struct dev *d;
	int e;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->r = r;
	d->gen = gen_ref(g);
	d->cfg = cfg;
	d->order = order;
	d->profile = profile;
	if (c->lwm2m.mode == GW_MODE_GATEWAY)
		snprintf(ep, sizeof(ep), "%s/%s", c->gateway.name, cfg->name);
	else if (gw_device_endpoint_name(c, cfg, ep, sizeof(ep)) < 0) {
		dev_free(d);
		return -ENAMETOOLONG;
	}
	d->name = strdup(cfg->name);
	d->endpoint = strdup(ep);
	d->fingerprint = device_fingerprint(c, cfg, d->profile, ep);
	d->store = lwm2m_store_new(r->objects);
	if (!d->name || !d->endpoint || !d->fingerprint || !d->store) {
		dev_free(d);
		return -ENOMEM;
	}
	e = mapping_instantiate(d->profile, d->store, device_var, d);
	if (e < 0) {
		log_error_errno(e, "Device %s: cannot instantiate profile '%s': %m", d->name, cfg->profile);
		dev_free(d);
		return e;
	}
	/* Every device has a Device object: the gateway reports its
	 * reachability there even when the profile maps nothing of /3. */
	e = lwm2m_store_add_instance(d->store, 3, 0);
	if (e < 0 && e != -EEXIST) {
		dev_free(d);
		return e;
	}
	e = set_int(d->store, "/3/0/11/0", 0);
	if (e < 0) {
		dev_free(d);
		return e;
	}
	*out = d;
	return 0;
}

/* ---- lookups ---------------------------------------------------------------------- */

static int cmp_dev(const void *a, const void *b)
{
	const struct dev *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

static int cmp_key(const void *k, const void *b)
{
	const struct dev *const *y = b;
	return strcmp(k, (*y)->name);
}

static struct dev *find(const struct gw_registry *r, const char *name)
{
	if (r->starting && strcmp(r->starting->name, name) == 0)
		return r->starting;
	struct dev **p = r->n ? bsearch(name, r->devs, r->n, sizeof(*r->devs), cmp_key) : NULL;
	return p ? *p : NULL;
}

/* ---- LwM2M Write and Execute through the profile and the bridge ---------------------------------- */

static void group_answer(struct wgroup *g, int err)
{
	if (g->answered)
		return;
	g->answered = true;
	g->timer = sd_event_source_disable_unref(g->timer);
	g->done(g->done_ctx, err);
}

static void group_release(struct wgroup *g)
{
	if (g->pending > 0 || !g->answered)
		return;
	for (struct wgroup **p = &g->r->groups; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	sd_event_source_disable_unref(g->timer);
	free(g->device);
	free(g);
}

static int group_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
	struct wgroup *g = ud;

	(void)s;
	(void)usec;
	log_warning("Device %s: no answer from the field within %llu s", g->device,
		    (unsigned long long)(WRITE_TIMEOUT_USEC / USEC_PER_SEC));
	group_answer(g, -ETIMEDOUT);
	group_release(g);
	return 0;
}

static struct wgroup *group_new(struct gw_registry *r, const char *device, lwm2m_done_fn done, void *done_ctx)
{
	struct wgroup *g = calloc(1, sizeof(*g));

	if (!g || !(g->device = strdup(device))) {
		free(g);
		return NULL;
	}
	g->r = r;
	g->done = done;
	g->done_ctx = done_ctx;
	if (sd_event_add_time_relative(r->event, &g->timer, CLOCK_MONOTONIC, WRITE_TIMEOUT_USEC, 0,
				       group_timeout, g) < 0) {
		free(g->device);
		free(g);
		return NULL;
	}
	g->next = r->groups;
	r->groups = g;
	return g;
}

/* One bridge operation of a group completed. */
static void wop_done(void *ctx, int err, const struct mapping_sample *s)
{
	struct wop *op = ctx;
	struct wgroup *g = op->g;

	(void)s;
	if (err > 0)
		err = -err;
	if (err == 0 && op->path.len >= 3) {
		/* The field acknowledged: the store shows the written value. */
		struct dev *d = find(g->r, g->device);
		if (d)
			(void)dev_set(d, &op->path, &op->v);
	}
	if (err < 0 && g->err == 0)
		g->err = err;
	free(op->bytes);
	free(op);
	if (--g->pending == 0)
		group_answer(g, g->err);
	group_release(g);
}

static bool bridged(const struct dev *d, const struct mapping_point *pt)
{
	return pt && d->cfg->bridge && (pt->write || (pt->writable && pt->from == MAPPING_FROM_SOURCE));
}

static int written_to_store(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs,
			    bool replace)
{
	struct lwm2m_endpoint *ep = d->ep ? d->ep : d->dev ? lwm2m_device_endpoint(d->dev) : NULL;
	int e = lwm2m_store_write(d->store, path, recs, replace);

	for (size_t i = 0; e >= 0 && ep && i < recs->n; i++)
		if (recs->v[i].path.len >= 3)
			(void)lwm2m_endpoint_value_changed(ep, d->dev, &recs->v[i].path);
	return e;
}

static int device_write(struct dev *d, const struct lwm2m_path *path, const struct lwm2m_records *recs,
			bool replace, lwm2m_done_fn done, void *done_ctx)
{
	struct lwm2m_records direct = { 0 };
	struct wop **ops = NULL;
	struct wgroup *g;
	size_t nb = 0;
	int e = 0;

	/* Records of points that go to the field are encoded first, all of
	 * them, so a bad value is refused before anything is sent. */
	ops = calloc(recs->n + 1, sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < recs->n && e >= 0; i++) {
		const struct lwm2m_record *rec = &recs->v[i];
		const struct mapping_point *pt = mapping_profile_find(d->profile, &rec->path);
		struct wop *op;
		if (!bridged(d, pt)) {
			struct lwm2m_record *c = lwm2m_records_add(&direct);
			if (!c)
				e = -ENOMEM;
			else
				*c = *rec;
			continue;
		}
		if (!d->br || !d->br->b || !d->br->ops->write) {
			e = -EHOSTUNREACH; /* the bridge is not running: 5.03 */
			break;
		}
		op = calloc(1, sizeof(*op));
		if (!op) {
			e = -ENOMEM;
			break;
		}
		ops[nb++] = op;
		op->path = rec->path;
		e = mapping_encode(pt, &rec->value, op->buf, sizeof(op->buf), &op->smp);
		if (e < 0)
			break;
		e = lwm2m_value_convert(&rec->value, pt->type, &op->v);
		if (e >= 0 && (op->v.type == LWM2M_TYPE_STRING || op->v.type == LWM2M_TYPE_OPAQUE ||
			       op->v.type == LWM2M_TYPE_CORELNK)) {
			op->bytes = malloc(op->v.bytes.len + 1);
			if (!op->bytes)
				e = -ENOMEM;
			else {
				if (op->v.bytes.len)
					memcpy(op->bytes, op->v.bytes.ptr, op->v.bytes.len);
				op->v.bytes.ptr = op->bytes;
			}
		}
	}
	/* The store part (constants the DDF lets write, values the
	 * application sets) is checked and written by the store. */
	if (e >= 0 && direct.n > 0)
		e = written_to_store(d, path, &direct, replace && nb == 0);
	lwm2m_records_clear(&direct);
	if (e < 0 || nb == 0) {
		for (size_t i = 0; i < nb; i++) {
			free(ops[i]->bytes);
			free(ops[i]);
		}
		free(ops);
		if (e < 0)
			return e;
		done(done_ctx, 0);
		return 0;
	}

	g = group_new(d->r, d->name, done, done_ctx);
	if (!g) {
		for (size_t i = 0; i < nb; i++) {
			free(ops[i]->bytes);
			free(ops[i]);
		}
		free(ops);
		return -ENOMEM;
	}
	/* Each op is its own bridge call (made now, while the request's
	 * values are valid); the group answers after the last completion. The
	 * extra count keeps the group alive through this loop. */
	g->pending = (unsigned)nb + 1;
	for (size_t i = 0; i < nb; i++) {
		const struct mapping_point *pt = mapping_profile_find(d->profile, &ops[i]->path);
		ops[i]->g = g;
		e = d->br->ops->write(d->br->b, d->name, pt, &ops[i]->smp, wop_done, ops[i]);
		if (e < 0)
			wop_done(ops[i], e, NULL);
	}
	free(ops);
	if (--g->pending == 0)
		group_answer(g, g->err);
	group_release(g);
	return 0;
}

static int device_execute(struct dev *d, const struct lwm2m_path *path, const char *args, size_t args_len,
			  lwm2m_done_fn done, void *done_ctx)
{
	const struct mapping_point *pt = mapping_profile_find(d->profile, path);
	struct wgroup *g;
	struct wop *op;
	int e;

	if (!pt || !pt->executable)
		return -EPERM; /* 4.05: nothing to execute there */
	if (!d->br || !d->br->b || !d->br->ops->execute)
		return -EHOSTUNREACH;
	g = group_new(d->r, d->name, done, done_ctx);
	op = calloc(1, sizeof(*op));
	if (!g || !op) {
		free(op);
		if (g) {
			g->answered = true;
			group_release(g);
		}
		return -ENOMEM;
	}
	op->g = g;
	g->pending = 1;
	e = d->br->ops->execute(d->br->b, d->name, pt, args, args_len, wop_done, op);
	if (e < 0)
		wop_done(op, e, NULL);
	return 0;
}

/* ---- max_age reads: stale points are read from the field first --------------------------------- */

/* A bridge read of a max_age Read completed: the value goes through the
 * profile into the store as a sample does (and counts as one). */
static void rop_done(void *ctx, int err, const struct mapping_sample *s)
{
	struct wop *op = ctx;
	struct wgroup *g = op->g;

	if (err > 0)
		err = -err;
	if (err == 0 && !s)
		err = -EIO;
	if (err == 0)
		err = gw_registry_sample(g->r, g->device, &op->path, s, 0);
	if (err < 0 && g->err == 0)
		g->err = err;
	free(op);
	if (--g->pending == 0)
		group_answer(g, g->err);
	group_release(g);
}

/* Points with a source at or below path (or above it: a resource instance
 * of a point) whose last sample is older than their max_age, or that were
 * never sampled, are read by the bridge; the Read waits for all of them
 * (the write group: one done(), 5.03 after WRITE_TIMEOUT). Returns 0 when
 * nothing is stale (answer now), 1 when done() will be called. */
static int device_read(struct dev *d, const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	size_t np = mapping_profile_npoints(d->profile), nb = 0;
	uint64_t now = now_usec();
	struct wgroup *g = NULL;

	if (!d->br || !d->br->b || !d->br->ops->read)
		return 0; /* nobody to ask: the store answers */
	for (size_t i = 0; i < np; i++) {
		const struct mapping_point *pt = mapping_profile_point(d->profile, i);
		uint64_t t = d->pt_sample ? d->pt_sample[i] : 0;
		struct wop *op;
		int e;

		if (pt->from != MAPPING_FROM_SOURCE || !pt->max_age_usec)
			continue;
		if (!lwm2m_path_is_under(&pt->path, path) && !lwm2m_path_is_under(path, &pt->path))
			continue;
		if (t && now - t <= pt->max_age_usec)
			continue;
		if (!g) {
			g = group_new(d->r, d->name, done, done_ctx);
			if (!g)
				return -ENOMEM;
			g->pending = 1; /* held through this loop */
		}
		op = calloc(1, sizeof(*op));
		if (!op) {
			if (g->err == 0)
				g->err = -ENOMEM;
			break;
		}
		op->g = g;
		op->path = pt->path;
		g->pending++;
		nb++;
		e = d->br->ops->read(d->br->b, d->name, pt, rop_done, op);
		if (e < 0)
			rop_done(op, e, NULL);
	}
	if (!g)
		return 0;
	if (--g->pending == 0)
		group_answer(g, nb ? g->err : 0);
	group_release(g);
	return 1;
}

static int dev_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	(void)ep;
	(void)dev;
	return device_read(ud, path, done, done_ctx);
}

static int gw_read(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		   const struct lwm2m_path *path, lwm2m_done_fn done, void *done_ctx)
{
	struct dev *d = dev ? find(ud, lwm2m_device_prefix(dev)) : NULL;

	(void)ep;
	return d ? device_read(d, path, done, done_ctx) : 0;
}

static struct dev *dev_of(struct gw_registry *r, struct lwm2m_device *dev)
{
	return dev ? find(r, lwm2m_device_prefix(dev)) : NULL;
}

static int dev_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		     const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		     lwm2m_done_fn done, void *done_ctx)
{
	(void)ep;
	(void)dev;
	return device_write(ud, path, records, replace, done, done_ctx);
}

static int dev_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		       const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		       void *done_ctx)
{
	(void)ep;
	(void)dev;
	return device_execute(ud, path, args, args_len, done, done_ctx);
}

static int gw_write(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		    const struct lwm2m_path *path, const struct lwm2m_records *records, bool replace,
		    lwm2m_done_fn done, void *done_ctx)
{
	struct gw_registry *r = ud;
	struct dev *d = dev_of(r, dev);
	int e;

	if (d)
		return device_write(d, path, records, replace, done, done_ctx);
	if (dev)
		return -ENOENT;
	/* The gateway's own tree. */
	e = lwm2m_store_write(lwm2m_endpoint_store(ep), path, records, replace);
	for (size_t i = 0; e >= 0 && i < records->n; i++)
		if (records->v[i].path.len >= 3)
			(void)lwm2m_endpoint_value_changed(ep, NULL, &records->v[i].path);
	if (e < 0)
		return e;
	done(done_ctx, 0);
	return 0;
}

static int gw_execute(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev,
		      const struct lwm2m_path *path, const char *args, size_t args_len, lwm2m_done_fn done,
		      void *done_ctx)
{
	struct dev *d = dev_of(ud, dev);

	(void)ep;
	if (d)
		return device_execute(d, path, args, args_len, done, done_ctx);
	return dev ? -ENOENT : -EPERM;
}

/* ---- bridges ------------------------------------------------------------------------------ */

static char *bridge_fingerprint(const struct gw_bridge *b)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	fprintf(f, "%d\n", b->type);
	node_print(f, b->body);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static void brt_release(struct brt *b)
{
	if (b->b) {
		if (b->ops->stop)
			b->ops->stop(b->b);
		b->ops->free(b->b);
	}
	free(b->name);
	free(b->fingerprint);
	memset(b, 0, sizeof(*b));
}

/* Keep the bridges whose type and body did not change, stop the others,
 * start the new ones. Devices on a changed bridge are changed too (their
 * fingerprint has the bridge's body) and were removed before this. */
static void sync_bridges(struct gw_registry *r)
{
	const struct gw_config *c = current(r);
	struct brt *v = calloc(c->bridges.n + 1, sizeof(*v));
	struct bridge_host host;

	if (!v) {
		log_oom();
		return;
	}
	gw_registry_bridge_host(r, &host);
	for (size_t i = 0; i < c->bridges.n; i++) {
		const struct gw_bridge *cb = gw_config_bridge(c, i);
		char *fp = bridge_fingerprint(cb);
		struct brt *nb = &v[i];
		for (size_t j = 0; fp && j < r->nbridges; j++) {
			struct brt *old = &r->bridges[j];
			if (!old->keep && old->name && strcmp(old->name, cb->name) == 0 &&
			    strcmp(old->fingerprint, fp) == 0) {
				*nb = *old;
				old->keep = true;
				break;
			}
		}
		if (nb->name) {
			free(fp);
			continue;
		}
		nb->name = strdup(cb->name);
		nb->fingerprint = fp;
		nb->ops = gw_bridge_ops(cb->type);
		if (!nb->ops || !nb->name || !fp) {
			log_error("Bridge %s (%s) is not available", cb->name,
				  gw_bridge_type_to_string(cb->type));
			continue;
		}
		int e = nb->ops->new (cb->name, cb->body, &host, &nb->b);
		if (e >= 0 && nb->ops->start)
			e = nb->ops->start(nb->b, r->event);
		if (e < 0) {
			log_error_errno(e, "Bridge %s (%s) did not start: %m", cb->name,
					gw_bridge_type_to_string(cb->type));
			if (nb->b)
				nb->ops->free(nb->b);
			nb->b = NULL;
		} else
			log_info("Bridge %s (%s) started", cb->name, gw_bridge_type_to_string(cb->type));
	}
	/* Devices kept across the reload point at their bridge: re-aim. */
	for (size_t i = 0; i < r->n; i++) {
		struct dev *d = r->devs[i];
		d->br = NULL;
		for (size_t j = 0; d->cfg->bridge && j < c->bridges.n; j++)
			if (v[j].name && strcmp(v[j].name, d->cfg->bridge) == 0)
				d->br = &v[j];
	}
	for (size_t j = 0; j < r->nbridges; j++)
		if (!r->bridges[j].keep) {
			log_info("Bridge %s stopped", r->bridges[j].name);
			brt_release(&r->bridges[j]);
		}
	free(r->bridges);
	r->bridges = v;
	r->nbridges = c->bridges.n;
	for (size_t j = 0; j < r->nbridges; j++)
		r->bridges[j].keep = false;
}

/* Will sync_bridges() keep the running bridge called name under c? */
static bool bridge_kept(const struct gw_registry *r, const struct gw_config *c, const char *name)
{
	const struct gw_bridge *cb = gw_config_find_bridge(c, name);
	char *fp = cb ? bridge_fingerprint(cb) : NULL;
	bool kept = false;

	for (size_t j = 0; fp && j < r->nbridges; j++)
		if (r->bridges[j].b && strcmp(r->bridges[j].name, name) == 0 &&
		    strcmp(r->bridges[j].fingerprint, fp) == 0)
			kept = true;
	free(fp);
	return kept;
}

/* ---- change notification ------------------------------------------------------------ */

static int on_change_timer(sd_event_source *s, uint64_t usec, void *ud)
{
	struct gw_registry *r = ud;

	(void)usec;
	sd_event_source_set_enabled(s, SD_EVENT_OFF);
	if (r->on_change)
		r->on_change(r->on_change_ud);
	return 0;
}

static void schedule_change(struct gw_registry *r)
{
	int e;

	if (!r->change_timer) {
		e = sd_event_add_time_relative(r->event, &r->change_timer, CLOCK_MONOTONIC, 200000, 50000,
					       on_change_timer, r);
		if (e < 0)
			return;
		sd_event_source_set_enabled(r->change_timer, SD_EVENT_ONESHOT);
		return;
	}
	int en = SD_EVENT_OFF;
	sd_event_source_get_enabled(r->change_timer, &en);
	if (en != SD_EVENT_OFF)
		return;
	sd_event_source_set_time_relative(r->change_timer, 200000);
	sd_event_source_set_enabled(r->change_timer, SD_EVENT_ONESHOT);
}

void gw_registry_on_change(struct gw_registry *r, void (*fn)(void *ud), void *ud)
{
	r->on_change = fn;
	r->on_change_ud = ud;
}

/* ---- building and applying ------------------------------------------------------------ */

static int start_gateway_endpoint(struct gw_registry *r)
{
	int e = gateway_store(r, &r->gw_store);

	if (e < 0)
		return log_error_errno(e, "Cannot build the gateway's Device object: %m");
	if (!hosts_ready(r)) {
		r->gw_state = STATE_RESOLVING;
		return 0;
	}
	r->gw_state = LWM2M_EP_WAITING;
	return add_endpoint(r, current(r)->gateway.name, NULL, r->gw_store, r, &r->gw_ep);
}

/* The server hosts are resolved: the endpoints that waited for them are
 * created now (the gateway's first, its Object 25 devices hang off it). */
static void endpoints_resume(struct gw_registry *r)
{
	bool gateway_mode = current(r)->lwm2m.mode == GW_MODE_GATEWAY;
	int e;

	if (!hosts_ready(r) || r->closing)
		return;
	if (!r->gw_ep && r->gw_store) {
		r->gw_state = LWM2M_EP_WAITING;
		e = add_endpoint(r, current(r)->gateway.name, NULL, r->gw_store, r, &r->gw_ep);
		if (e < 0)
			log_error_errno(e, "The gateway's endpoint is not started: %m");
	}
	for (size_t i = 0; i < r->n; i++) {
		struct dev *d = r->devs[i];
		if (d->ep || d->dev)
			continue;
		if (gateway_mode) {
			if (!r->gw_ep)
				continue;
			e = lwm2m_endpoint_add_device(r->gw_ep, d->name, d->store, d->name, &d->dev);
			if (e < 0)
				log_error_errno(e, "Device %s: cannot add it to the gateway endpoint: %m",
						d->name);
			d->state = r->gw_state;
		} else {
			d->state = LWM2M_EP_WAITING;
			e = add_endpoint(r, d->endpoint, d->cfg, d->store, d, &d->ep);
			if (e < 0)
				log_error_errno(e, "Device %s is not started: %m", d->name);
		}
	}
	schedule_change(r);
}

static void stop_gateway_endpoint(struct gw_registry *r)
{
	if (r->gw_ep)
		lwm2m_endpoint_remove(r->gw_ep);
	r->gw_ep = NULL;
	r->gw_store = lwm2m_store_free(r->gw_store);
}

static int push_gen(struct gw_registry *r, struct gw_config *config)
{
	struct gen *g = calloc(1, sizeof(*g));

	if (!g) {
		gw_config_free(config);
		return -ENOMEM;
	}
	g->config = config;
	g->refs = 1;
	g->next = r->gens;
	r->gens = g;
	return 0;
}

int gw_registry_new(sd_event *ev, const struct lwm2m_registry *objects, struct gw_config *config,
		    struct gw_registry **out)
{
	struct lwm2m_client_config cc = {
		.log = client_log,
		.log_level = log_get_max_level(),
		.reg_rate = (double)config->lwm2m.register_rate,
		.max_observations = (uint32_t)config->lwm2m.max_observations,
	};
	gw_sf_client_config(config, &cc);
	struct gw_registry *r;
	int e;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		gw_config_free(config);
		return log_oom();
	}
	r->event = sd_event_ref(ev);
	r->objects = objects;
	e = push_gen(r, config);
	if (e < 0) {
		free(r);
		return log_oom();
	}
	/* The client keeps bootstrap results here; it outlives reloads. */
	r->state_dir = strdup(config->gateway.state_dir);
	if (!r->state_dir) {
		gw_registry_free(r);
		return log_oom();
	}
	cc.state_dir = r->state_dir;
	{
		size_t n = 0;
		for (size_t i = 0; i < config->lwm2m.servers.n; i++)
			n += !gw_config_server(config, i)->bootstrap;
		if (n > 1)
			log_warning("%zu LwM2M servers are configured; endpoints register with the first "
				    "one, %s, "
				    "only",
				    n, main_server(config)->uri.text);
	}
	r->global = global_fingerprint(config);
	e = lwm2m_client_new(ev, objects, &cc, &r->client);
	if (e < 0) {
		log_error_errno(e, "Cannot create the LwM2M client: %m");
		gw_registry_free(r);
		return e;
	}
	hosts_setup(r);
	e = start_gateway_endpoint(r);
	if (e < 0) {
		gw_registry_free(r);
		return e;
	}
	/* An empty previous state: apply adds every device. */
	e = gw_registry_apply(r, NULL);
	if (e < 0) {
		gw_registry_free(r);
		return e;
	}
	*out = r;
	return 0;
}

int gw_registry_apply(struct gw_registry *r, struct gw_config *config)
{
	const struct gw_config *c;
	struct dev **devs;
	size_t n = 0, added = 0, removed = 0, changed = 0, kept = 0;
	bool all_changed = false;
	char *global;
	int e;

	if (config) {
		e = push_gen(r, config);
		if (e < 0)
			return log_oom();
		/* The previous configuration stays referenced by its devices. */
		gen_unref(r, r->gens->next);
	}
	c = current(r);
	/* The pace changes for what is still to send; nobody re-registers. */
	(void)lwm2m_client_set_reg_rate(r->client, (double)c->lwm2m.register_rate);
	/* New Observe requests meet the new bound; running ones stay. */
	(void)lwm2m_client_set_max_observations(r->client, (uint32_t)c->lwm2m.max_observations);
	global = global_fingerprint(c);
	if (!global)
		return log_oom();
	if (strcmp(global, r->global) != 0) {
		/* Server, mode, lifetime or gateway name: every endpoint
		 * registers again, the gateway's own included. */
		all_changed = true;
		free(r->global);
		r->global = global;
		global = NULL;
	}
	free(global);

	devs = calloc(c->devices.n + r->n + 1, sizeof(*devs));
	if (!devs)
		return log_oom();
	for (size_t i = 0; i < r->n; i++)
		r->devs[i]->keep = false;

	if (all_changed) {
		/* Devices first (their Object 25 instances hang off it). */
		for (size_t i = 0; i < r->n; i++) {
			dev_free(r->devs[i]);
			changed++;
		}
		r->n = 0;
		stop_gateway_endpoint(r);
		/* New servers: a pending lookup of the old ones is cancelled
		 * (its answer is dropped, nothing is called back). */
		hosts_setup(r);
		e = start_gateway_endpoint(r);
		if (e < 0) {
			free(devs);
			return e;
		}
		log_info("LwM2M settings changed: every endpoint registers again");
	} else if (config)
		hosts_retry(r);

	/* First pass: which running devices stay as they are. */
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *cfg = gw_config_device(c, i);
		struct dev *old = find(r, cfg->name);
		char ep[256], *fp;
		if (!old)
			continue;
		if (c->lwm2m.mode == GW_MODE_GATEWAY)
			snprintf(ep, sizeof(ep), "%s/%s", c->gateway.name, cfg->name);
		else
			gw_device_endpoint_name(c, cfg, ep, sizeof(ep));
		fp = device_fingerprint(c, cfg, c->device_profiles[i], ep);
		if (fp && strcmp(fp, old->fingerprint) == 0) {
			old->keep = true;
			old->order = i;
		} else {
			log_info("Device %s changed: registering it again", cfg->name);
			changed++;
		}
		free(fp);
	}
	/* Discovered devices stay while their bridge does (same body) and no
	 * configured device takes their name. */
	for (size_t i = 0; !all_changed && i < r->n; i++) {
		struct dev *d = r->devs[i];
		if (!d->disc)
			continue;
		d->keep = bridge_kept(r, c, d->disc->bridge);
		for (size_t j = 0; d->keep && j < c->devices.n; j++)
			if (strcmp(gw_config_device(c, j)->name, d->name) == 0)
				d->keep = false;
	}
	/* What is not kept goes first (removed devices and the old version of
	 * changed ones), so a changed device never meets its old self on the
	 * server or in /25. Removing an endpoint de-registers it. */
	for (size_t i = 0; i < r->n; i++) {
		bool still = false;
		if (r->devs[i]->keep) {
			devs[n++] = r->devs[i];
			kept++;
			continue;
		}
		for (size_t j = 0; j < c->devices.n; j++)
			if (strcmp(gw_config_device(c, j)->name, r->devs[i]->name) == 0)
				still = true;
		if (!still) {
			log_info("Device %s removed", r->devs[i]->name);
			removed++;
		}
		dev_free(r->devs[i]);
	}
	free(r->devs);
	r->devs = devs;
	r->n = n;
	qsort(r->devs, r->n, sizeof(*r->devs), cmp_dev);

	sync_bridges(r);

	/* Second pass: new and changed devices. */
	for (size_t i = 0; i < c->devices.n; i++) {
		const struct gw_device *cfg = gw_config_device(c, i);
		struct dev *d = NULL;
		if (find(r, cfg->name))
			continue;
		e = dev_new(r, r->gens, cfg, c->device_profiles[i], i, &d);
		if (e >= 0) {
			r->starting = d;
			e = dev_start(d);
			r->starting = NULL;
		}
		if (e < 0) {
			log_error_errno(e, "Device %s is not started: %m", cfg->name);
			dev_free(d);
			continue;
		}
		devs[n++] = d;
	}
	added = n - r->n;
	added = added > changed ? added - changed : 0;
	r->n = n;
	qsort(r->devs, r->n, sizeof(*r->devs), cmp_dev);
	if (config)
		log_info("Configuration applied: %zu device%s added, %zu removed, %zu changed, %zu unchanged",
			 added, added == 1 ? "" : "s", removed, changed, kept);
	else
		log_info("%zu device%s started", added, added == 1 ? "" : "s");
	schedule_change(r);
	return 0;
}

const struct gw_config *gw_registry_config(const struct gw_registry *r)
{
	return current(r);
}

/* ---- samples and presence ----------------------------------------------------------------- */

int gw_registry_sample(struct gw_registry *r, const char *device, const struct lwm2m_path *path,
		       const struct mapping_sample *s, uint64_t time_usec)
{
	struct dev *d = find(r, device);
	const struct mapping_point *pt;
	struct lwm2m_value v;
	char ps[32];
	int e;

	if (!d)
		return -ENOENT;
	pt = mapping_profile_find(d->profile, path);
	if (!pt)
		return -ENOENT;
	e = mapping_decode(pt, s, &v);
	/* A time the field gave (a payload's timestamp) travels with the
	 * value; without one the value is as of now and carries none. */
	if (e >= 0)
		e = dev_set_at(d, &pt->path, &v, time_usec ? (double)time_usec / 1e6 : 0, pt->historical);
	if (e < 0) {
		/* One line per failure would flood the journal at poll rates:
		 * the first one is logged, status shows the count. */
		if (d->errors++ == 0) {
			lwm2m_path_format(path, ps);
			log_warning_errno(e, "Device %s: sample of %s rejected: %m", d->name, ps);
		}
		return e;
	}
	d->samples++;
	d->last_sample = now_usec();
	/* Per point, for max_age reads (device_read). */
	if (!d->pt_sample)
		d->pt_sample = calloc(mapping_profile_npoints(d->profile) + 1, sizeof(*d->pt_sample));
	for (size_t i = 0; d->pt_sample && i < mapping_profile_npoints(d->profile); i++)
		if (mapping_profile_point(d->profile, i) == pt)
			d->pt_sample[i] = d->last_sample;
	return 0;
}

int gw_registry_presence(struct gw_registry *r, const char *device, int err)
{
	struct dev *d = find(r, device);
	struct lwm2m_path p;
	struct lwm2m_value v = { .type = LWM2M_TYPE_INTEGER };

	if (!d)
		return -ENOENT;
	err = err > 0 ? -err : err;
	if ((d->presence < 0) == (err < 0)) {
		d->presence = err;
		return 0;
	}
	d->presence = err;
	if (err < 0) {
		d->unreachable++;
		log_warning_errno(err, "Device %s is unreachable: %m", d->name);
	} else
		log_info("Device %s is reachable again", d->name);
	v.i = err < 0 ? GW_ERROR_UNREACHABLE : 0;
	lwm2m_path_parse("/3/0/11/0", 9, &p, NULL);
	return dev_set(d, &p, &v);
}

static int host_sample(void *ud, const char *device, const struct lwm2m_path *path,
		       const struct mapping_sample *s, uint64_t time_usec)
{
	return gw_registry_sample(ud, device, path, s, time_usec);
}

static void host_presence(void *ud, const char *device, int err)
{
	(void)gw_registry_presence(ud, device, err);
}

static bool device_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static void discover_diag(void *ctx, enum diag_severity sev, const char *file, unsigned line, unsigned col,
			  const char *msg)
{
	char buf[512];

	(void)ctx;
	diag_format(buf, sizeof(buf), sev, file, line, col, msg);
	log_error("%s", buf);
}

int gw_registry_discover(struct gw_registry *r, const char *bridge, const char *device, const char *profile,
			 const char *address)
{
	const struct gw_config *c = current(r);
	const struct gw_bridge *cb = gw_config_find_bridge(c, bridge);
	const struct mapping_profile *p = NULL;
	struct diag diag = { .fn = discover_diag };
	const char *kind;
	struct disc *ds;
	struct dev *d = NULL, **v;
	int e;

	if (!device || !device_name_ok(device)) {
		log_error("Bridge %s discovered a device named '%s': names are 1 to 64 letters, digits, "
			  "'.', '_' or '-'",
			  bridge, device ? device : "(null)");
		return -EINVAL;
	}
	if (find(r, device))
		return -EEXIST;
	if (r->closing)
		return -ESHUTDOWN;
	if (!cb || !profile || !address)
		return -EINVAL;
	e = mapping_set_get(c->profiles, profile, NULL, &diag, &p);
	if (e < 0) {
		log_error_errno(
			e, "Bridge %s: device %s discovered with profile '%s', which cannot be loaded: %m",
			bridge, device, profile);
		return e;
	}
	kind = mapping_profile_bridge(p);
	if (kind && strcmp(kind, gw_bridge_type_to_string(cb->type)) != 0) {
		log_error("Bridge %s: device %s discovered with profile '%s', a profile for %s bridges",
			  bridge, device, profile, kind);
		return -EINVAL;
	}
	v = realloc(r->devs, (r->n + 2) * sizeof(*v));
	ds = calloc(1, sizeof(*ds));
	if (v)
		r->devs = v;
	if (!v || !ds) {
		free(ds);
		return log_oom();
	}
	ds->name = strdup(device);
	ds->bridge = strdup(bridge);
	ds->profile = strdup(profile);
	ds->address_text = strdup(address);
	if (!ds->name || !ds->bridge || !ds->profile || !ds->address_text) {
		free(ds->name);
		free(ds->bridge);
		free(ds->profile);
		free(ds->address_text);
		free(ds);
		return log_oom();
	}
	ds->address =
		(struct ynode){ .kind = YNODE_SCALAR,
				.file = "(discovered)",
				.scalar = { .str = ds->address_text, .len = strlen(ds->address_text) } };
	ds->cfg = (struct gw_device){
		.name = ds->name, .bridge = ds->bridge, .address = &ds->address, .profile = ds->profile
	};
	e = dev_new(r, r->gens, &ds->cfg, p, ORDER_DISCOVERED + r->discovered, &d);
	if (e < 0) {
		free(ds->name);
		free(ds->bridge);
		free(ds->profile);
		free(ds->address_text);
		free(ds);
		return log_error_errno(e, "Bridge %s: discovered device %s not created: %m", bridge, device);
	}
	d->disc = ds;
	free(d->fingerprint);
	/* Never equal to a configured device's: one of that name replaces it. */
	d->fingerprint = strdup("(discovered)");
	r->starting = d;
	e = d->fingerprint ? dev_start(d) : -ENOMEM;
	r->starting = NULL;
	if (e < 0) {
		log_error_errno(e, "Bridge %s: discovered device %s not started: %m", bridge, device);
		dev_free(d);
		return e;
	}
	r->discovered++;
	/* Into its place: r->devs stays sorted by name without a sort per
	 * discovery (thousands of them). */
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(r->devs[mid]->name, d->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&r->devs[lo + 1], &r->devs[lo], (r->n - lo) * sizeof(*r->devs));
	r->devs[lo] = d;
	r->n++;
	log_info("Device %s discovered by bridge %s (profile %s, address %s)", device, bridge, profile,
		 address);
	schedule_change(r);
	return 0;
}

int gw_registry_forget(struct gw_registry *r, const char *device)
{
	struct dev *d = find(r, device);

	if (!d || d == r->starting)
		return -ENOENT;
	if (!d->disc)
		return -EPERM;
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i] == d) {
			memmove(&r->devs[i], &r->devs[i + 1], (r->n - i - 1) * sizeof(*r->devs));
			r->n--;
			break;
		}
	log_info("Device %s (discovered) removed", d->name);
	dev_free(d);
	schedule_change(r);
	return 0;
}

static int host_discover(void *ud, const char *bridge, const char *device, const char *profile,
			 const char *address)
{
	return gw_registry_discover(ud, bridge, device, profile, address);
}

static int host_forget(void *ud, const char *device)
{
	return gw_registry_forget(ud, device);
}

void gw_registry_bridge_host(struct gw_registry *r, struct bridge_host *out)
{
	*out = (struct bridge_host){ .ud = r,
				     .sample = host_sample,
				     .presence = host_presence,
				     .discover = host_discover,
				     .forget = host_forget };
}

/* ---- observation hints ------------------------------------------------------------------ */

/* Which points are observed, and with which pmin, is asked after the
 * request that changed it (the client calls in the middle of its work,
 * maybe while removing the very device). */
static int on_obs_defer(sd_event_source *s, void *ud)
{
	struct gw_registry *r = ud;

	(void)s;
	for (size_t i = 0; i < r->n; i++) {
		struct dev *d = r->devs[i];
		size_t np = mapping_profile_npoints(d->profile);
		if (!d->obs_dirty)
			continue;
		d->obs_dirty = false;
		if (!d->br || !d->br->b || !d->br->ops->observed || np == 0)
			continue;
		if (!d->hint && !(d->hint = calloc(np, sizeof(*d->hint)))) {
			log_oom();
			continue;
		}
		for (size_t k = 0; k < np; k++) {
			const struct mapping_point *pt = mapping_profile_point(d->profile, k);
			uint32_t pmin = 0;
			int on = 0;
			if (pt->from != MAPPING_FROM_SOURCE)
				continue;
			if (d->ep)
				on = lwm2m_endpoint_observed(d->ep, NULL, &pt->path, &pmin);
			else if (d->dev)
				on = lwm2m_endpoint_observed(lwm2m_device_endpoint(d->dev), d->dev, &pt->path,
							     &pmin);
			uint64_t hint = on > 0 ? (uint64_t)pmin * USEC_PER_SEC : 0;
			if (hint == d->hint[k])
				continue;
			d->hint[k] = hint;
			d->br->ops->observed(d->br->b, d->name, &pt->path, hint);
		}
	}
	return 0;
}

static void obs_mark(struct gw_registry *r, struct dev *d)
{
	if (!d)
		return;
	d->obs_dirty = true;
	if (!r->obs_defer && sd_event_add_defer(r->event, &r->obs_defer, on_obs_defer, r) < 0) {
		r->obs_defer = NULL;
		return;
	}
	sd_event_source_set_enabled(r->obs_defer, SD_EVENT_ONESHOT);
}

static void dev_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	struct dev *d = ud;

	(void)ep;
	if (!dev)
		obs_mark(d->r, d);
}

static void gw_obs_changed(void *ud, struct lwm2m_endpoint *ep, struct lwm2m_device *dev)
{
	(void)ep;
	if (dev)
		obs_mark(ud, dev_of(ud, dev));
}

/* ---- status --------------------------------------------------------------------------------- */

void gw_registry_counts(const struct gw_registry *r, struct gw_registry_counts *out)
{
	*out = (struct gw_registry_counts){ .devices = r->n,
					    .gateway_registered = r->gw_state == LWM2M_EP_REGISTERED };
	for (size_t i = 0; i < r->n; i++)
		if (r->devs[i]->state == LWM2M_EP_REGISTERED)
			out->registered++;
}

static const char *state_word(int st)
{
	switch (st) {
	case LWM2M_EP_REGISTERED:
		return "registered";
	case LWM2M_EP_REGISTERING:
		return "registering";
	case LWM2M_EP_DEREGISTERING:
		return "deregistering";
	case LWM2M_EP_BOOTSTRAPPING:
		return "bootstrapping";
	case STATE_RESOLVING:
		return "resolving";
	default:
		return "waiting";
	}
}

static void format_age(uint64_t last, uint64_t now, char *buf, size_t size)
{
	uint64_t s;

	if (!last) {
		snprintf(buf, size, "never");
		return;
	}
	s = (now - last) / 1000000u;
	if (s < 120)
		snprintf(buf, size, "%llus", (unsigned long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, size, "%lluh", (unsigned long long)(s / 3600));
}

static int cmp_order(const void *a, const void *b)
{
	const struct dev *const *x = a, *const *y = b;
	return (*x)->order < (*y)->order ? -1 : (*x)->order > (*y)->order;
}

void gw_registry_status(const struct gw_registry *r, FILE *out)
{
	const struct gw_config *c = current(r);
	struct gw_registry_counts cnt;
	struct dev **v = calloc(r->n + 1, sizeof(*v));
	size_t w_dev = 6, w_br = 6, w_ep = 8;
	uint64_t now = now_usec();
	char age[32], errs[160], extra[160], held[64];

	gw_registry_counts(r, &cnt);
	fprintf(out, "Gateway %s (%s mode): endpoint %s %s\n", c->gateway.name,
		gw_mode_to_string(c->lwm2m.mode), c->gateway.name, state_word(r->gw_state));
	for (size_t i = 0; i < 2; i++) {
		const struct hostres *h = &r->hosts[i];
		if (!h->host || h->ready)
			continue;
		if (h->gai)
			fprintf(out, "Server host %s: lookup failed (%s), retrying\n", h->host,
				gai_strerror(h->gai));
		else
			fprintf(out, "Server host %s: resolving\n", h->host);
	}
	if (!v)
		return;
	memcpy(v, r->devs, r->n * sizeof(*v));
	qsort(v, r->n, sizeof(*v), cmp_order);
	for (size_t i = 0; i < r->n; i++) {
		size_t l;
		if ((l = strlen(v[i]->name)) > w_dev)
			w_dev = l;
		if (v[i]->cfg->bridge && (l = strlen(v[i]->cfg->bridge)) > w_br)
			w_br = l;
		if ((l = strlen(v[i]->endpoint)) > w_ep)
			w_ep = l;
	}
	fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s\n", (int)w_dev, "DEVICE", (int)w_br, "BRIDGE",
		(int)w_ep, "ENDPOINT", "STATE", "LAST SAMPLE", "ERRORS");
	for (size_t i = 0; i < r->n; i++) {
		const struct dev *d = v[i];
		format_age(d->last_sample, now, age, sizeof(age));
		gw_sf_device_note(d->ep, d->dev, held, sizeof(held));
		snprintf(errs, sizeof(errs), "decode %llu, unreachable %llu, registration %llu%s%s",
			 (unsigned long long)d->errors, (unsigned long long)d->unreachable,
			 (unsigned long long)d->reg_failures, held,
			 d->presence < 0 ? " (unreachable now)" : "");
		extra[0] = 0;
		if (d->br && d->br->b && d->br->ops->device_status &&
		    d->br->ops->device_status(d->br->b, d->name, extra + 2, sizeof(extra) - 2) > 0) {
			extra[0] = ',';
			extra[1] = ' ';
			extra[sizeof(extra) - 1] = 0;
		}
		fprintf(out, "%-*s  %-*s  %-*s  %-13s  %-11s  %s%s%s\n", (int)w_dev, d->name, (int)w_br,
			d->cfg->bridge ? d->cfg->bridge : "-", (int)w_ep, d->endpoint, state_word(d->state),
			age, errs, extra, d->disc ? " (discovered)" : "");
	}
	fprintf(out, "%zu device%s, %zu registered\n", cnt.devices, cnt.devices == 1 ? "" : "s",
		cnt.registered);
	gw_sf_status(r->client, out);
	free(v);
}

/* ---- shutdown ------------------------------------------------------------------------------- */

int gw_registry_shutdown(struct gw_registry *r, uint32_t timeout_ms, void (*done)(void *ud), void *ud)
{
	/* The client frees each endpoint (and its Object 25 devices) as its
	 * De-register is answered, while bridges may still deliver samples:
	 * from now on those only reach the stores, which stay ours. */
	for (size_t i = 0; i < r->n; i++) {
		r->devs[i]->ep = NULL;
		r->devs[i]->dev = NULL;
	}
	r->gw_ep = NULL;
	r->closing = true;
	return lwm2m_client_shutdown(r->client, timeout_ms, done, ud);
}

struct gw_registry *gw_registry_free(struct gw_registry *r)
{
	if (!r)
		return NULL;
	/* Bridges stop first: their pending completions still answer the
	 * server through a live client. */
	for (size_t i = 0; i < r->n; i++)
		r->devs[i]->br = NULL;
	for (size_t j = 0; j < r->nbridges; j++)
		brt_release(&r->bridges[j]);
	free(r->bridges);
	/* The client goes next and sends nothing; stores are ours. */
	r->client = lwm2m_client_free(r->client);
	while (r->groups) {
		struct wgroup *g = r->groups;
		r->groups = g->next;
		sd_event_source_disable_unref(g->timer);
		free(g->device);
		free(g);
	}
	for (size_t i = 0; i < r->n; i++) {
		r->devs[i]->ep = NULL;
		r->devs[i]->dev = NULL;
		dev_free(r->devs[i]);
	}
	free(r->devs);
	lwm2m_store_free(r->gw_store);
	for (size_t i = 0; i < 2; i++)
		host_clear(&r->hosts[i]);
	sd_event_source_disable_unref(r->change_timer);
	sd_event_source_disable_unref(r->obs_defer);
	while (r->gens) {
		struct gen *g = r->gens;
		r->gens = g->next;
		gw_config_free(g->config);
		free(g);
	}
	free(r->global);
	free(r->state_dir);
	sd_event_unref(r->event);
	free(r);
	return NULL;
}
