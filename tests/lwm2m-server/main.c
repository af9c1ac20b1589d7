/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fg-lwm2m-server — a small LwM2M 1.1 server for fieldgate's tests and demo
 * =========================================================================
 *
 * A test harness, not a product: it accepts LwM2M clients on loopback and
 * lets a script (tests/lwm2m-server/fglwm2m.py) drive them through JSON
 * lines on stdin/stdout. Built on libcoap 4.3 with block-wise transfer
 * (RFC 7959) done by libcoap, and on fieldgate's pure lwm2m/ codecs for
 * every content format (text, opaque, link, TLV, SenML JSON/CBOR, LwM2M
 * JSON/CBOR).
 *
 * Usage:
 *   fg-lwm2m-server [--host 127.0.0.1] [--port 0] [--dtls] [--dtls-port 0]
 *                   [--psk IDENTITY:HEXKEY]... [--reject-version 1.2]...
 *                   [--ddf-dir DIR] [--expire-grace SECONDS] [--verbose]
 *                   [--cert PEM --key PEM --ca PEM]
 * Port 0 picks a free port. --psk implies --dtls. --cert/--key/--ca (imply
 * --dtls) add DTLS certificate mode: the server presents cert and requires
 * a client certificate that chains to the CA. --expire-grace -1 never
 * expires registrations (default: a registration expires lt + 2 s after
 * its Register/Update). The first line on stdout is
 *   {"event":"listening","port":N,"dtls_port":M|null,...}
 * The server exits cleanly on stdin EOF, SIGTERM/SIGINT or {"op":"quit"}.
 *
 * Interfaces served (LwM2M 1.1 Transport/Core):
 *   POST /rd?ep=&lt=&lwm2m=&b= (+ link payload) -> 2.01, Location-Path rd/<n>
 *   POST /rd/<n> (Update)  -> 2.04      DELETE /rd/<n> -> 2.02
 *   unknown /rd/<n>        -> 4.04      rejected lwm2m= version -> 4.12
 *   POST /bs?ep=           -> 2.04, then the bootstrap script (if any) runs
 *   POST /dp (Send)        -> 2.04 (4.00 undecodable, 4.15 other formats)
 *   A second Register of an endpoint name replaces the first.
 *
 * Commands (stdin, one JSON object per line). "id" is any JSON value and is
 * echoed in the one "response" event each command gets; "ep" names the
 * endpoint (a client in bootstrap is addressed first, then the registered
 * one); "path" may carry an Object 25 prefix ("/dev0/3303/0/5700"), sent as
 * Uri-Path segments. "accept" and "ct" are content-format numbers;
 * "timeout" is seconds (default 30); "non":true sends NON.
 *   read            {ep, path, accept?}                           GET
 *   discover        {ep, path}                                    GET Accept:40
 *   write           {ep, path, ct?, partial?, PAYLOAD}            PUT / POST (partial)
 *   create          {ep, path (object), ct?, PAYLOAD}             POST
 *   delete          {ep, path}                                    DELETE
 *   execute         {ep, path, args?}                             POST, text args
 *   write-attributes{ep, path, attrs:{pmin:1,gt:20.5,st:null}, query?:[..]}
 *                                                                 PUT, Uri-Query (null: name only)
 *   read-composite  {ep, paths:[..], ct? (112), accept? (=ct)}    FETCH
 *   write-composite {ep, ct? (112), records}                      iPATCH
 *   observe         {ep, path, accept?}                           GET Observe:0
 *   observe-composite {ep, paths, ct?, accept?}                   FETCH Observe:0
 *   cancel          {observation: <id of the observe>, mode: "get"|"rst"|"refresh"}
 *                   get: GET/FETCH Observe:1, same token (response event);
 *                   rst: reply ok now, RST the next notification ("cancelled" event);
 *                   refresh: the Observe again, same token (response event; the
 *                   observation ends unless the answer carries Observe)
 *   bs-read/bs-discover/bs-write/bs-delete: as read/discover/write/delete
 *   bs-finish       {ep}                                          POST /bs
 *   raw             {ep, method, path, query?:[..], observe?, accept?, ct?, PAYLOAD}
 *   PAYLOAD is one of: "records":[{path,type?,value,time?}], "value"+"type"?
 *   (one record at path), "text":"...", "hex":"...". Record types: string,
 *   integer, unsigned, float, boolean, opaque (hex), time, objlnk ("3:0"),
 *   corelnk; without "type" the object registry decides, then the JSON type.
 *   Default write format: TLV for LwM2M 1.0 clients and bootstrap, SenML CBOR
 *   otherwise.
 *   registrations   -> response {"registrations":[{ep,location,lt,lwm2m,b,query,links,addr}]}
 *   observations    -> response {"observations":[{observation,ep,path,token}]}
 *   forget          {ep}: drop a registration silently (its next Update gets 4.04)
 *   ignore-notifications {on? (true)}: CON notifications are not acknowledged
 *                   (libcoap's debug packet loss drops the ACK) and reported as
 *                   "ignored" events instead of "notify"; NON ones as usual
 *   location-path   {segments:["rd","{id}"]}: the Location-Path options of the
 *                   next 2.01s ("{id}" = the registration number), e.g.
 *                   ["rd/{id}"] is ONE segment with a slash (lwm2m-node-lib does
 *                   that); Update/De-register must repeat them exactly as Uri-Path
 *                   options, or they get 4.04 (update-rejected/deregister-rejected)
 *   psk             {identity, key (hex) | key_text}
 *   reject-version / accept-version {version}
 *   fail            {what: register|update|deregister|bootstrap|send, code:"4.04", ep?, count? (1)}
 *   fail-next-update{ep?, code? ("4.04")}
 *   bootstrap-script{ep? ("*" = any), steps:[commands without ep]}: run in
 *                   order after the client's POST /bs; each step gets a
 *                   "response" event (with "bootstrap" and "step"), then
 *                   {"event":"bootstrap-done","ep","ok","results":[codes]}
 *   ping, quit
 *
 * Events (stdout; every line has "event" and "ts" = CLOCK_MONOTONIC ms,
 * comparable with Python's time.monotonic()*1000):
 *   response   {id, ep, op, code:"2.05", ct?, observe?, token, location?,
 *               records?|links+paths?, text?, hex?, error?}; local commands
 *               reply {id, ok:true, ...} or {id, error:"..."}
 *   register   {ep, lt, lwm2m, b, query, links:["</>;rt=\"oma.lwm2m\"",..],
 *               paths:["/","/3/0",..], location:"rd/1", location_path:["rd","1"],
 *               uri_path:["rd"], addr, secure, identity?, replaced?, mid}
 *   update     {ep, location, uri_path, query, lt?, b?, links?, paths?, addr, secure}
 *   deregister {ep, location, uri_path, code}         expire {ep, location}
 *               (uri_path: the request's Uri-Path options as received)
 *   register-rejected / update-rejected / deregister-rejected {ep, code, ...}
 *   register-retransmission / update-retransmission {ep, location, mid, addr}:
 *               the same message id again from the same peer (RFC 7252 4.5:
 *               our answer was slow or lost), answered as the first time and
 *               not processed again
 *   notify     {observation: <observe id>, ep, op, code, observe, ct?, token, type:"CON"|"NON",
 *               mid, records?, ...}
 *   ignored    {observation, ep, mid, observe?}: a CON notification left without ACK
 *   cancelled  {observation, ep, mode:"rst", type, mid}
 *   send       {ep, ct, records?, hex, code, addr}
 *   bootstrap-request {ep, query, pct?, scripted, code, addr}
 *   bootstrap-done    {ep, ok, results}
 *   stray      {ep, code, token, observe?}: a response/notification nobody
 *               waits for (answered with RST) — an observation that outlived
 *               its cancellation shows up here
 *   bad-request{what, reason, code, query, hex?}
 *   dtls       {state: connected|closed|error|unknown-identity|certificate, addr, identity?,
 *               cn?, depth?, validated?}  (certificate: a client certificate was checked)
 *   error      {error, line}: a command line that is not a JSON object
 * Record values keep their type: {"path":"/3/0/0","type":"string","value":"Acme"};
 * integers and unsigned are JSON integers (64-bit exact), floats print the
 * shortest text that reads back to the same double (always with '.' or
 * exponent), opaque is hex, objlnk "oid:iid", strings that are not UTF-8
 * get U+FFFD plus a "hex" member. A payload that does not decode gives
 * "error" and "hex" instead of "records".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "srv.h"

static int verbose;

static void log_handler(coap_log_t level, const char *message)
{
	(void)level;
	fprintf(stderr, "fg-lwm2m-server: libcoap: %s", message);
}

static void ddf_diag(void *ctx, const char *file, unsigned line, unsigned col, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "fg-lwm2m-server: %s:%u:%u: %s\n", file, line, col, msg);
}

static void usage(FILE *f)
{
	fputs("usage: fg-lwm2m-server [--host ADDR] [--port N] [--dtls] [--dtls-port N]\n"
	      "                       [--psk IDENTITY:HEXKEY]... [--reject-version V]...\n"
	      "                       [--ddf-dir DIR] [--expire-grace S] [--verbose]\n"
	      "Commands are JSON lines on stdin; events JSON lines on stdout (see main.c).\n",
	      f);
}

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int add_psk_arg(struct srv *S, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	uint8_t *key;
	size_t klen;
	char *ident;
	int r;

	if (!colon || colon == arg)
		return -EINVAL;
	if (hex_decode(colon + 1, &key, &klen) < 0)
		return -EINVAL;
	ident = strndup(arg, (size_t)(colon - arg));
	r = ident ? srv_add_psk(S, ident, key, klen) : -ENOMEM;
	free(ident);
	free(key);
	return r;
}

/* Complete lines of buf[0..*len) are run as commands; the rest stays. */
static void run_lines(struct srv *S, char *buf, size_t *len)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = 0;
		char *line = buf + start;
		start = i + 1;
		while (*line == ' ' || *line == '\t' || *line == '\r')
			line++;
		if (!*line)
			continue;
		enum json_tokener_error jerr;
		json_object *cmd = json_tokener_parse_verbose(line, &jerr);
		if (!cmd || !json_object_is_type(cmd, json_type_object)) {
			json_object *ev = event_new("error");
			json_object_object_add(ev, "error",
					       json_object_new_string(cmd ? "command is not a JSON object"
									  : json_tokener_error_desc(jerr)));
			json_object_object_add(ev, "line", json_object_new_string(line));
			emit(ev);
		} else {
			srv_command(S, cmd);
		}
		json_object_put(cmd);
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "dtls", no_argument, NULL, 'd' },
		{ "dtls-port", required_argument, NULL, 'D' },
		{ "psk", required_argument, NULL, 'k' },
		{ "reject-version", required_argument, NULL, 'r' },
		{ "ddf-dir", required_argument, NULL, 'f' },
		{ "expire-grace", required_argument, NULL, 'g' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct srv S = { .next_reg_id = 1, .expire_grace_ms = 2000 };
	const char *host = "127.0.0.1", *ddf_dir = NULL;
	uint16_t port = 0, dtls_port = 0;
	bool dtls = false;
	char *inbuf = NULL;
	size_t inlen = 0, incap = 0;
	sigset_t mask;
	int sfd, c, r, ret = 1;

	S.reject_versions = json_object_new_array();
	S.bs_scripts = json_object_new_object();
	S.registry = lwm2m_registry_new();
	if (!S.registry) {
		fprintf(stderr, "fg-lwm2m-server: out of memory\n");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "H:p:dD:k:r:f:g:vhc:K:a:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			S.cert_file = optarg;
			dtls = true;
			break;
		case 'K':
			S.key_file = optarg;
			dtls = true;
			break;
		case 'a':
			S.ca_file = optarg;
			dtls = true;
			break;
		case 'H':
			host = optarg;
			break;
		case 'p':
			if (parse_port(optarg, &port) < 0)
				goto bad_arg;
			break;
		case 'd':
			dtls = true;
			break;
		case 'D':
			if (parse_port(optarg, &dtls_port) < 0)
				goto bad_arg;
			dtls = true;
			break;
		case 'k':
			if (add_psk_arg(&S, optarg) < 0)
				goto bad_arg;
			dtls = true;
			break;
		case 'r':
			json_object_array_add(S.reject_versions, json_object_new_string(optarg));
			break;
		case 'f':
			ddf_dir = optarg;
			break;
		case 'g': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg)
				goto bad_arg;
			S.expire_grace_ms = v < 0 ? -1 : v * 1000;
			break;
		}
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			usage(stderr);
			ret = 2;
			goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		ret = 2;
		goto out;
	}
	if (!S.cert_file != !S.key_file || (S.ca_file && !S.cert_file)) {
		fprintf(stderr, "fg-lwm2m-server: --cert and --key go together (and --ca needs them)\n");
		ret = 2;
		goto out;
	}
	if (ddf_dir && lwm2m_registry_load_dir(S.registry, ddf_dir, ddf_diag, NULL) < 0) {
		fprintf(stderr, "fg-lwm2m-server: cannot read %s: %m\n", ddf_dir);
		goto out;
	}

	{
		/* events keep the real stdout; fd 1 becomes stderr for libcoap's dumps */
		int fd = dup(STDOUT_FILENO);
		event_out = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!event_out) {
			perror("fg-lwm2m-server: stdout");
			goto out;
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
	}
	coap_startup();
	coap_set_log_handler(log_handler);
	coap_set_log_level(verbose ? LOG_DEBUG : LOG_WARNING);
	coap_dtls_set_log_level(verbose ? LOG_DEBUG : LOG_WARNING);
	r = srv_coap_init(&S, host, port, dtls, dtls_port);
	if (r < 0) {
		fprintf(stderr, "fg-lwm2m-server: cannot listen on %s:%u: %s\n", host, port, strerror(-r));
		goto out_coap;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

	{
		json_object *ev = event_new("listening");
		json_object_object_add(ev, "host", json_object_new_string(host));
		json_object_object_add(ev, "port", json_object_new_int(S.port));
		json_object_object_add(ev, "dtls_port", dtls ? json_object_new_int(S.dtls_port) : NULL);
		json_object_object_add(ev, "pid", json_object_new_int(getpid()));
		emit(ev);
	}

	while (!S.quit) {
		struct pollfd p[3] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = coap_context_get_coap_fd(S.ctx), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		int timeout = srv_housekeeping(&S);

		if (poll(p, 3, timeout) < 0 && errno != EINTR) {
			perror("fg-lwm2m-server: poll");
			break;
		}
		coap_io_process(S.ctx, COAP_IO_NO_WAIT);
		if (p[2].revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) > 0)
				S.quit = true;
		}
		if (p[0].revents) {
			for (;;) {
				ssize_t n;
				if (incap - inlen < 4096) {
					char *nb = realloc(inbuf, incap * 2 + 8192);
					if (!nb) {
						S.quit = true;
						break;
					}
					inbuf = nb;
					incap = incap * 2 + 8192;
				}
				n = read(STDIN_FILENO, inbuf + inlen, incap - inlen - 1);
				if (n > 0) {
					inlen += (size_t)n;
					run_lines(&S, inbuf, &inlen);
					continue;
				}
				if (n == 0 || (errno != EAGAIN && errno != EINTR))
					S.quit = true; /* EOF: the test is gone */
				break;
			}
		}
	}
	ret = 0;
	srv_housekeeping(&S);
	if (sfd >= 0)
		close(sfd);
out_coap:
	srv_coap_free(&S);
	coap_cleanup();
out:
	if (event_out)
		fclose(event_out);
	free(inbuf);
	json_object_put(S.reject_versions);
	json_object_put(S.bs_scripts);
	json_object_put(S.loc_template);
	lwm2m_registry_free(S.registry);
	return ret;
bad_arg:
	fprintf(stderr, "fg-lwm2m-server: bad argument '%s'\n", optarg);
	usage(stderr);
	ret = 2;
	goto out;
}
