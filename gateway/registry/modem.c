/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object 4 of a cellular router: when the default route leaves through a
 * modem ModemManager manages (one of its "net" ports), the radio figures
 * come from ModemManager over the system bus: Network Bearer from the
 * access technology, Radio Signal Strength (RSSI, dBm, of the Signal
 * interface when its refresh is set up), Link Quality (SignalQuality,
 * percent), SMCC and SMNC (the 3GPP operator code). Asked on the event
 * loop (an asynchronous GetManagedObjects at each health refresh), never
 * blocking it; without ModemManager nothing is said and nothing changes.
 */
#include "gateway/registry/registry_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "common/log.h"

#define MM_NAME     "org.freedesktop.ModemManager1"
#define MM_PATH     "/org/freedesktop/ModemManager1"
#define MM_MODEM    MM_NAME ".Modem"
#define MM_3GPP     MM_NAME ".Modem.Modem3gpp"
#define MM_SIGNAL   MM_NAME ".Modem.Signal"
#define MM_PORT_NET 2 /* MM_MODEM_PORT_TYPE_NET */

/* Object 4 Network Bearer values. */
#define BEARER_GSM     0
#define BEARER_WCDMA   2
#define BEARER_LTE_FDD 6

struct modem {
	sd_bus *bus;
	sd_bus_slot *call; /* GetManagedObjects in flight */
	struct modem_info info;
};

static void info_clear(struct modem_info *m)
{
	*m = (struct modem_info){ .rssi = INT_MIN, .quality = -1, .mcc = -1, .mnc = -1 };
}

/* MMModemAccessTechnology bits to Object 4's bearer. */
static int bearer_of(uint32_t tech)
{
	if (tech & ((1u << 14) | (1u << 15))) /* LTE, 5GNR */
		return BEARER_LTE_FDD;
	if (tech & 0x3e0u) /* UMTS, HSDPA, HSUPA, HSPA, HSPA+ */
		return BEARER_WCDMA;
	return BEARER_GSM;
}

static int skip(sd_bus_message *m)
{
	return sd_bus_message_skip(m, NULL);
}

/* Into a variant holding an array ("a(su)", elements "(su)"), and out. */
static int enter_array_variant(sd_bus_message *m, const char *vsig, const char *esig)
{
	int r = sd_bus_message_enter_container(m, 'v', vsig);

	return r < 0 ? r : sd_bus_message_enter_container(m, 'a', esig);
}

static int exit_array_variant(sd_bus_message *m)
{
	int r = sd_bus_message_exit_container(m);

	return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* Each entry of an a{sv} (entered): fn reads or skips its value. */
static int each_prop(sd_bus_message *m, int (*fn)(sd_bus_message *m, const char *key, void *ud), void *ud)
{
	const char *key;
	int r;

	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &key);
		if (r >= 0)
			r = fn(m, key, ud);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	return r;
}

/* Ports a(su): whether ifname is one of its "net" ports. */
static int read_ports(sd_bus_message *m, const char *ifname, bool *match)
{
	const char *name;
	uint32_t type;
	int r = enter_array_variant(m, "a(su)", "(su)");

	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(m, "(su)", &name, &type)) > 0)
		if (type == MM_PORT_NET && strcmp(name, ifname) == 0)
			*match = true;
	return r < 0 ? r : exit_array_variant(m);
}

static int rssi_prop(sd_bus_message *m, const char *key, void *ud)
{
	int *rssi = ud;
	double v;
	int r;

	if (strcmp(key, "rssi") != 0)
		return skip(m);
	r = sd_bus_message_read(m, "v", "d", &v);
	if (r > 0 && *rssi == INT_MIN && v < 0 && v > -200)
		*rssi = (int)(v - 0.5);
	return r;
}

/* One of the Signal interface's a{sv} (Lte, Umts, Gsm): its "rssi". */
static int read_rssi(sd_bus_message *m, int *rssi)
{
	int r = enter_array_variant(m, "a{sv}", "{sv}");

	if (r >= 0)
		r = each_prop(m, rssi_prop, rssi);
	return r < 0 ? r : exit_array_variant(m);
}

struct props {
	const char *iface, *ifname;
	struct modem_info *out;
	bool *net;
};

static int modem_prop(sd_bus_message *m, const char *key, void *ud)
{
	const struct props *p = ud;
	const char *code;
	uint32_t u;
	int recent, r;

	if (strcmp(p->iface, MM_MODEM) == 0 && strcmp(key, "Ports") == 0)
		return read_ports(m, p->ifname, p->net);
	if (strcmp(p->iface, MM_MODEM) == 0 && strcmp(key, "SignalQuality") == 0) {
		r = sd_bus_message_read(m, "v", "(ub)", &u, &recent);
		if (r > 0)
			p->out->quality = (int)(u > 100 ? 100 : u);
		return r;
	}
	if (strcmp(p->iface, MM_MODEM) == 0 && strcmp(key, "AccessTechnologies") == 0) {
		r = sd_bus_message_read(m, "v", "u", &u);
		if (r > 0)
			p->out->bearer = bearer_of(u);
		return r;
	}
	if (strcmp(p->iface, MM_3GPP) == 0 && strcmp(key, "OperatorCode") == 0) {
		r = sd_bus_message_read(m, "v", "s", &code);
		/* MCC: 3 digits, MNC: the 2 or 3 after them. */
		if (r > 0 && strlen(code) >= 5 && strlen(code) <= 6 &&
		    strspn(code, "0123456789") == strlen(code)) {
			p->out->mnc = atoi(code + 3);
			p->out->mcc = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
		}
		return r;
	}
	if (strcmp(p->iface, MM_SIGNAL) == 0 &&
	    (strcmp(key, "Lte") == 0 || strcmp(key, "Umts") == 0 || strcmp(key, "Gsm") == 0))
		return read_rssi(m, &p->out->rssi);
	return skip(m);
}

/* The properties a{sv} of interface iface of one modem. */
static int read_props(sd_bus_message *m, const char *iface, const char *ifname, struct modem_info *out,
		      bool *net)
{
	struct props p = { iface, ifname, out, net };
	int r = sd_bus_message_enter_container(m, 'a', "{sv}");

	if (r >= 0)
		r = each_prop(m, modem_prop, &p);
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

/* GetManagedObjects a{oa{sa{sv}}}: the modem whose net port is ifname. */
static int parse_objects(sd_bus_message *m, const char *ifname, struct modem_info *out)
{
	int r = sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}");

	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}")) > 0) {
		struct modem_info one;
		const char *path, *iface;
		bool net = false;

		info_clear(&one);
		one.bearer = -1;
		r = sd_bus_message_read(m, "o", &path);
		if (r < 0)
			return r;
		r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
		if (r < 0)
			return r;
		while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
			r = sd_bus_message_read(m, "s", &iface);
			if (r >= 0)
				r = read_props(m, iface, ifname, &one, &net);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
		if (net && one.bearer >= 0 && !out->present) {
			*out = one;
			out->present = true;
		}
	}
	return r < 0 ? r : sd_bus_message_exit_container(m);
}

static int on_objects(sd_bus_message *reply, void *ud, sd_bus_error *err)
{
	struct gw_registry *r = ud;
	struct modem *md = r->modem;
	struct modem_info info;
	int e;

	(void)err;
	md->call = sd_bus_slot_unref(md->call);
	info_clear(&info);
	if (sd_bus_message_is_method_error(reply, NULL)) {
		/* No ModemManager here: nothing to say. */
		log_debug("ModemManager: %s", sd_bus_message_get_error(reply)->message);
	} else if ((e = parse_objects(reply, r->modem_if, &info)) < 0) {
		log_warning_errno(e, "ModemManager's objects cannot be read: %m");
		info_clear(&info);
	}
	md->info = info;
	health_modem(r);
	return 0;
}

void modem_ask(struct gw_registry *r, const char *ifname)
{
	struct modem *md = r->modem;
	sd_bus_message *m = NULL;
	int e;

	if (!md) {
		md = r->modem = calloc(1, sizeof(*md));
		if (!md)
			return;
		info_clear(&md->info);
		/* No system bus (a container, a test): no modem, quietly. */
		if (sd_bus_open_system(&md->bus) < 0 || sd_bus_attach_event(md->bus, r->event, 0) < 0) {
			md->bus = sd_bus_flush_close_unref(md->bus);
			log_debug("No system bus: ModemManager is not asked");
		}
	}
	if (!md->bus || md->call)
		return;
	snprintf(r->modem_if, sizeof(r->modem_if), "%s", ifname);
	e = sd_bus_message_new_method_call(md->bus, &m, MM_NAME, MM_PATH,
					   "org.freedesktop.DBus.ObjectManager", "GetManagedObjects");
	/* Asked, never started: a router without a modem keeps it stopped. */
	if (e >= 0)
		e = sd_bus_message_set_auto_start(m, false);
	if (e >= 0)
		e = sd_bus_call_async(md->bus, &md->call, m, on_objects, r, 0);
	sd_bus_message_unref(m);
	if (e < 0)
		log_debug_errno(e, "ModemManager cannot be asked: %m");
}

const struct modem_info *modem_info(const struct gw_registry *r)
{
	return r->modem && r->modem->info.present ? &r->modem->info : NULL;
}

void modem_free(struct gw_registry *r)
{
	struct modem *md = r->modem;

	if (!md)
		return;
	md->call = sd_bus_slot_unref(md->call);
	sd_bus_flush_close_unref(md->bus);
	free(md);
	r->modem = NULL;
}
