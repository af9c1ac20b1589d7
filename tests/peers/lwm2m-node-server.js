// SPDX-License-Identifier: Apache-2.0
//
// lwm2m-node-server.js — runs the LwM2M server of the npm package
// lwm2m-node-lib (a third-party implementation) for fieldgate's peer tests,
// and exposes it as JSON lines (tests/peers/test_lwm2m_node_lib.py).
//
// The server uses its in-memory device registry (no MongoDB) and listens on
// 127.0.0.1 on a free UDP port chosen by the kernel. Plain CommonJS so that
// it runs on Debian 12's Node 18 as well as on newer ones.
//
// Options: --port N (bind that port instead: a restarted server),
//   --skip-ids N (registration ids start after N: a restarted server must
//   not hand out the locations /rd/1.. of its previous life again),
//   --raw-proxy (no proxy fix, see below), --log-level DEBUG|INFO|..,
//   --lifetime-check-ms N.
//
// stdout, one JSON object a line:
//   {"event":"listening","port":N}
//   {"event":"registration","ep":..,"lifetime":..,"version":..,"binding":..,"payload":..}
//   {"event":"update","ep":..,"id":..,"lifetime":..,"payload":..}
//   {"event":"unregistration","ep":..,"id":..}     (De-register from the client)
//   {"event":"expired","ep":..,"id":..}            (lifetime ran out at the server)
//   {"event":"notify","ep":..,"path":..,"value":..}
//   {"id":K,"ok":true,...} / {"id":K,"ok":false,"code":..,"name":..,"message":..}
// stdin, one JSON object a line, {"id":K,"op":OP,...}:
//   list                         -> "devices": [{name,id,lifetime,address,port,links,...}]
//   read    ep path              -> "value"   (path /oid/iid/rid)
//   write   ep path value        -> "value"   (response payload)
//   execute ep path [args]       -> "value"
//   discover ep path             -> "value"   (link format)
//   observe ep path              -> "value"   (first value; then notify events)
//   cancel  ep path
//   quit                         -> {"ok":true}, then the process exits
// Every operation answers within "timeout" ms (default 10000), as
// {"ok":false,"code":"timeout"} if the library has not called back by then.
//
// Workarounds for lwm2m-node-lib 1.4.0 (read in node_modules/lwm2m-node-lib):
// - Its default write/accept format is "lightweightm2m/text" (1541), the
//   pre-release OMA number, not text/plain (0) of LwM2M 1.0+: configured
//   explicitly to 'text/plain' below (writeFormat, defaultAcceptFormat).
// - coapRouter listens with server.listen(config.port) on every address and
//   cannot take port 0: Server.prototype.listen of its coap module is
//   wrapped to bind 127.0.0.1 port 0 and to store the kernel's port into the
//   config object, which the library reads again for every request it sends
//   (requests go through the server's own socket as a CoAP proxy, to
//   127.0.0.1:config.port).
// - setHandler('unregistration') restarts the lifetime check with
//   require('./commonConfig').lifetimeCheckInterval, which does not exist
//   (it is config.getConfig().lifetimeCheckInterval): the interval becomes
//   undefined, i.e. 1 ms, and both De-register and lifetime expiry would
//   reach the same handler. The check is restarted here with our interval
//   and its own handler ("expired").
// - Its logger (logops) writes to stdout: moved to stderr.
// - It reaches devices through its own socket acting as a CoAP proxy
//   (coap 0.22, proxy: true), and that proxy forwards only messages that
//   carry a token: the empty ACK with which its internal agent acknowledges
//   a Confirmable notification, and the Reset with which it would refuse one
//   after cancelObserver(), never reach the device. A client that sends CON
//   notifications then retransmits each one until it gives up (about 93 s),
//   and with NSTART=1 its Registration Update waits behind it, so the
//   registration expires at this server. The proxy middleware below ACKs a
//   device's Confirmable response itself (RFC 7252 5.7.2: a proxy is an
//   endpoint of its own), forwards it to the agent as Non-confirmable, and
//   answers the next notification of a cancelled observation with Reset
//   (RFC 7641 3.6), which is how cancel reaches the client.
'use strict';

const path = require('path');
const readline = require('readline');

// The library reads these at start; none may leak in from the environment.
for (const k of Object.keys(process.env)) {
	if (k.startsWith('LWM2M_')) {
		delete process.env[k];
	}
}

const libDir = path.dirname(require.resolve('lwm2m-node-lib/package.json'));
// The very module instances lwm2m-node-lib uses (not copies resolved from here).
const fromLib = (name) => require(require.resolve(name, { paths: [libDir] }));
const coap = fromLib('coap');
const logger = fromLib('logops');
const lwm2m = require('lwm2m-node-lib');
const server = lwm2m.server;

logger.setStream(process.stderr);

const args = process.argv.slice(2);
const argOf = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

const config = {
	port: 0, // replaced by the bound port, see listen below
	serverProtocol: 'udp4',
	logLevel: argOf('--log-level', 'FATAL'),
	bindPort: Number(argOf('--port', '0')),
	lifetimeCheckInterval: Number(argOf('--lifetime-check-ms', '200')),
	writeFormat: 'text/plain',
	defaultAcceptFormat: 'text/plain',
	formats: [{ name: 'text/plain', value: 0 }],
	defaultType: 'Device',
	types: [],
};

const coapDir = path.dirname(require.resolve('coap/package.json', { paths: [libDir] }));
const packet = require(require.resolve('coap-packet', { paths: [coapDir] }));

function emit(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

// Observations sent through the proxy, by token (hex): the device's URI,
// the path and whether the test cancelled it.
const observations = new Map();

function proxyFix(request, next) {
	const server = request.server;
	const pkt = request.packet;
	const tok = pkt.token ? pkt.token.toString('hex') : '';

	if (request.proxy) {
		// A request of the library's agent, already sent on to the device.
		const o = pkt.options || [];
		if (o.some((x) => x.name === 'Observe')) {
			const p = o.filter((x) => x.name === 'Uri-Path').map((x) => x.value.toString());
			observations.set(tok, { target: request.proxy, path: '/' + p.join('/'), cancelled: false });
		}
		next(null);
		return;
	}
	if (pkt.code === '0.00' || !tok || !server._proxiedRequests[tok]) {
		next(null);
		return;
	}
	// A response (or notification) of a device to a proxied request.
	const obs = observations.get(tok);
	const answer = (fields) => {
		const buf = packet.generate(Object.assign({ code: '0.00', messageId: pkt.messageId }, fields));
		server._sock.send(buf, 0, buf.length, request.rsinfo.port, request.rsinfo.address);
	};
	if (obs && obs.cancelled && !pkt.ack) {
		answer({ reset: true });
		delete server._proxiedRequests[tok];
		observations.delete(tok);
		emit({ event: 'observe-reset', port: request.rsinfo.port, path: obs.path });
		request.proxy = 'handled'; // the remaining middlewares skip it
		next(null);
		return;
	}
	if (pkt.confirmable) {
		answer({ ack: true });
		pkt.confirmable = false;
	}
	next(null);
}

const origListen = coap.createServer.prototype.listen;
coap.createServer.prototype.listen = function (port, address, done) {
	if (typeof address === 'function') {
		done = address;
	}
	const self = this;
	const at = this._middlewares.findIndex((f) => f.name === 'handleProxyResponse');
	if (at < 0) {
		throw new Error('coap: no proxy middleware to patch');
	}
	if (args.indexOf('--raw-proxy') < 0) {
		this._middlewares.splice(at, 0, proxyFix);
	}
	return origListen.call(this, config.bindPort, '127.0.0.1', function (err) {
		if (!err) {
			config.port = self._sock.address().port;
		}
		if (done) {
			done(err);
		}
	});
};

// What the registry does not keep: the Register/Update query and links.
const extra = new Map();

function describe(dev) {
	const x = extra.get(dev.name) || {};
	return {
		name: dev.name,
		id: dev.id,
		lifetime: dev.lifetime === undefined ? null : Number(dev.lifetime),
		address: dev.address,
		port: dev.port,
		path: dev.path,
		type: dev.type,
		version: x.version === undefined ? null : x.version,
		binding: x.binding === undefined ? null : x.binding,
		links: x.links === undefined ? null : x.links,
		updates: x.updates || 0,
	};
}

function onRegistration(ep, lifetime, version, binding, payload, callback) {
	extra.set(ep, { version: version, binding: binding, links: payload, updates: 0 });
	emit({
		event: 'registration',
		ep: ep,
		lifetime: lifetime === undefined ? null : Number(lifetime),
		version: version === undefined ? null : version,
		binding: binding === undefined ? null : binding,
		payload: payload,
	});
	callback();
}

function onUpdate(dev, payload, callback) {
	const x = extra.get(dev.name) || {};
	x.updates = (x.updates || 0) + 1;
	// An Update without payload keeps the objects registered before.
	if (payload) {
		x.links = payload;
	}
	extra.set(dev.name, x);
	emit({
		event: 'update',
		ep: dev.name,
		id: dev.id,
		lifetime: dev.lifetime === undefined ? null : Number(dev.lifetime),
		payload: payload,
	});
	callback();
}

function onUnregistration(dev, callback) {
	extra.delete(dev.name);
	emit({ event: 'unregistration', ep: dev.name, id: dev.id });
	callback();
}

function onExpired(dev, callback) {
	extra.delete(dev.name);
	emit({ event: 'expired', ep: dev.name, id: dev.id });
	callback();
}

// "/3/0/14" -> ["3", "0", "14"]; only resource paths (all the library takes).
function splitPath(p) {
	const parts = String(p || '').split('/').filter((s) => s.length > 0);
	if (parts.length < 1 || parts.length > 3 || parts.some((s) => !/^[0-9]+$/.test(s))) {
		return null;
	}
	return parts;
}

function errorOf(err) {
	return {
		code: err && err.code !== undefined ? String(err.code) : null,
		name: (err && err.name) || 'Error',
		message: (err && err.message) || String(err),
	};
}

let serverInfo = null;
let quitting = false;

function handle(req) {
	const id = req.id;
	let answered = false;
	const timer = setTimeout(() => reply({ code: 'timeout', name: 'TIMEOUT', message: 'no answer' }),
		Number(req.timeout || 10000));

	function reply(err, fields) {
		if (answered) {
			return;
		}
		answered = true;
		clearTimeout(timer);
		const out = Object.assign({ id: id, ok: !err }, err ? errorOf(err) : {}, fields || {});
		emit(out);
	}

	// The library addresses devices by its registry id, tests by name.
	function withDevice(fn) {
		server.getDevice(req.ep, (err, dev) => (err ? reply(err) : fn(dev)));
	}

	function withPath(n, fn) {
		const p = splitPath(req.path);
		if (!p || (n && p.length !== n)) {
			reply({ code: 'bad-request', name: 'BAD_PATH', message: 'bad path ' + req.path });
			return;
		}
		withDevice((dev) => fn(dev, p));
	}

	const done = (err, value) => reply(err, { value: value === undefined ? null : value });

	switch (req.op) {
	case 'list':
		server.listDevices((err, devs) => reply(err, { devices: (devs || []).map(describe) }));
		break;
	case 'read':
		withPath(3, (dev, p) => server.read(dev.id, p[0], p[1], p[2], done));
		break;
	case 'write':
		withPath(3, (dev, p) => server.write(dev.id, p[0], p[1], p[2], String(req.value), done));
		break;
	case 'execute':
		withPath(3, (dev, p) => server.execute(dev.id, p[0], p[1], p[2], req.args || undefined, done));
		break;
	case 'discover':
		withPath(0, (dev, p) => server.discover.apply(null, [dev.id].concat(p, [done])));
		break;
	case 'observe':
		withPath(3, (dev, p) => server.observe(dev.id, p[0], p[1], p[2], (value) => {
			emit({ event: 'notify', ep: dev.name, path: '/' + p.join('/'), value: value });
		}, done));
		break;
	case 'cancel':
		withPath(3, (dev, p) => {
			const target = 'coap://' + dev.address + ':' + dev.port;
			const pathname = '/' + p.join('/');
			for (const o of observations.values()) {
				if (o.target === target && o.path === pathname) {
					o.cancelled = true;
				}
			}
			try {
				server.cancelObserver(dev.id, p[0], p[1], p[2], (err) => reply(err));
			} catch (e) {
				reply({ code: 'not-found', name: 'NO_OBSERVATION', message: String(e) });
			}
		});
		break;
	case 'quit':
		quit(() => reply(null));
		break;
	default:
		reply({ code: 'bad-request', name: 'UNKNOWN_OP', message: 'unknown op ' + req.op });
	}
}

function quit(then) {
	if (quitting) {
		return;
	}
	quitting = true;
	const finish = () => {
		if (then) {
			then();
		}
		// Agents and observe streams keep sockets open: exit explicitly
		// once stdout is flushed.
		process.stdout.write('', () => process.exit(0));
	};
	if (serverInfo) {
		server.stop(serverInfo, finish);
	} else {
		finish();
	}
}

server.start(config, (err, info) => {
	if (err) {
		process.stderr.write('lwm2m-node-lib server failed to start: ' + JSON.stringify(errorOf(err)) + '\n');
		process.exit(1);
	}
	serverInfo = info;
	// Ids come from a counter private to the in-memory registry: use some up.
	const reg = server.getRegistry();
	for (let i = Number(argOf('--skip-ids', '0')); i > 0; i--) {
		reg.register({ name: '\u0000skip', lifetime: 0 }, (e, id) => reg.unregister(id, () => {}));
	}
	server.setHandler(info, 'registration', onRegistration);
	server.setHandler(info, 'updateRegistration', onUpdate);
	server.setHandler(info, 'unregistration', onUnregistration);
	// After setHandler('unregistration'), see the header.
	server.getRegistry().checkLifetime(config.lifetimeCheckInterval, onExpired);
	emit({ event: 'listening', port: config.port });

	const rl = readline.createInterface({ input: process.stdin });
	rl.on('line', (line) => {
		if (!line.trim()) {
			return;
		}
		let req;
		try {
			req = JSON.parse(line);
		} catch (e) {
			emit({ id: null, ok: false, code: 'bad-request', name: 'BAD_JSON', message: String(e) });
			return;
		}
		handle(req);
	});
	rl.on('close', () => quit());
});
