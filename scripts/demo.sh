#!/usr/bin/env bash
# The demo of fieldgate's main job, on one machine: installs what is missing,
# builds, then
#   1. validates conf/demo.yaml and shows how a broken file is reported;
#   2. starts the field side: a Modbus TCP server (Debian's pymodbus) with an
#      energy meter and a temperature/humidity sensor as units 1 and 2, and
#      a mosquitto broker for two zigbee2mqtt devices; and the project's
#      LwM2M test server (fg-lwm2m-server), all on free loopback ports;
#   3. runs `fieldgate run`: the gateway and the four field devices register
#      as LwM2M endpoints;
#   4. reads Modbus registers and MQTT values through LwM2M, observes a
#      value that changes in the field, writes the smart plug (an MQTT
#      publish, answered once the plug's state echo arrives);
#   5. stops the Modbus server (its devices become unreachable in /3/0/11)
#      and starts it again (polling resumes by itself);
#   6. reloads with SIGHUP (a fifth device appears, the others keep their
#      registrations);
#   7. the LwM2M server creates a device through the gateway's Object 26242
#      (it registers and serves MQTT values; the file fieldgate keeps), has
#      a bad one refused with the reason, and deletes its device again;
#   8. the LwM2M server installs a profile bundle through the gateway's
#      Object 9 (a tar with a profile, written block-wise, checked, then
#      installed), creates a device with its profile, and uninstalls it again;
#   9. shows `fieldgate status`, stops with SIGTERM and shows every endpoint
#      de-registering.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/install-deps.sh" --demo

if [[ ! -f build/build.ninja ]]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null
fg=build/gateway/fieldgate
server=build/tests/lwm2m-server/fg-lwm2m-server
if [[ ! -x "$server" ]]; then
	echo "fg-lwm2m-server was not built (libcoap missing?)" >&2
	exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "fieldgate --version"
"$fg" --version

step "fieldgate check -c conf/demo.yaml"
"$fg" check -c conf/demo.yaml

step "a broken configuration is rejected with file:line:column errors"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/broken.yaml" <<'YAML'
gateway:
  name: demo-gw
  stat_dir: /tmp/fieldgate
lwm2m:
  mode: endpoint-per-device
  servers:
    - uri: coap://127.0.0.1:70000
devices:
  - name: pump
    bridge: modbsu
    address: 3
    profile: demo-sensr
bridges:
  modbus0: {type: modbus}
YAML
cat -n "$work/broken.yaml"
"$fg" check -c "$work/broken.yaml" || echo "(exit status $?)"

# The rest talks LwM2M: the test server is driven through its Python driver
# (tests/lwm2m-server/fglwm2m.py), which prints what the server sees.
FG_BUILD_DIR="$here/build" FG_SOURCE_DIR="$here" DEMO_WORK="$work" /usr/bin/python3 - <<'PY'
import os, signal, struct, subprocess, sys, time
src = os.environ["FG_SOURCE_DIR"]
for d in ("lwm2m-server", "modbus", "mqtt", "gateway"):
    sys.path.insert(0, os.path.join(src, "tests", d))
from fglwm2m import Server, records_by_path
from mbtest import PyModbus
from mqttpeer import Broker
import bundlemk
import shutil

fg = os.path.join(os.environ["FG_BUILD_DIR"], "gateway", "fieldgate")
work = os.environ["DEMO_WORK"]
os.makedirs("/tmp/fieldgate-demo", exist_ok=True)
# A device step 7 created, left by an interrupted run.
for left in ("hallway.yaml", "porch.yaml"):
    if os.path.exists("/tmp/fieldgate-demo/devices/" + left):
        os.unlink("/tmp/fieldgate-demo/devices/" + left)
# And a bundle step 8 installed.
shutil.rmtree("/tmp/fieldgate-demo/bundles", ignore_errors=True)

def step(title):
    print("\n\033[1m== %s\033[0m" % title, flush=True)

def say(text):
    print("   " + text, flush=True)

def f32(x):
    """A float32 as two Modbus registers, big endian (ABCD), as the SDM120 keeps it."""
    b = struct.pack(">f", x)
    return [b[0] << 8 | b[1], b[2] << 8 | b[3]]

# Input registers of the Eastron SDM120 (unit 1, its documented map) and of
# the XY-MD02 (unit 2: tenths of a degree and of a percent).
METER = {0x0000: 230.5, 0x0006: 1.5, 0x000C: 345.5, 0x0046: 50.0, 0x0156: 1234.5}

def field_values(mb):
    for addr, v in METER.items():
        mb.set(1, "input", addr, f32(v))
    mb.set(2, "input", 1, [215, 473])

step("start the field side and the LwM2M server (free loopback ports)")
mb = PyModbus(units=(1, 2))
field_values(mb)
say("Modbus TCP server (pymodbus)  127.0.0.1:%d  unit 1 = SDM120 energy meter, unit 2 = XY-MD02" % mb.port)
broker = Broker(work).start()
say("MQTT broker (mosquitto)       127.0.0.1:%d  zigbee2mqtt/kitchen-sensor, zigbee2mqtt/plug-1" % broker.port)
srv = Server(stderr=subprocess.DEVNULL).start()
say("LwM2M server (fg-lwm2m-server) %s" % srv.url)

# conf/demo.yaml, pointed at those (relative paths made absolute).
with open(os.path.join(src, "conf", "demo.yaml")) as f:
    text = f.read()
text = text.replace("coap://127.0.0.1:5683", srv.url)
text = text.replace("port: 1502", "port: %d" % mb.port).replace("port: 1883", "port: %d" % broker.port)
text = text.replace("objects_dir: objects", "objects_dir: " + os.path.join(src, "conf", "objects"))
text = text.replace("profiles_path: ../mappings/profiles",
                    "profiles_path: " + os.path.join(src, "mappings", "profiles"))
cfg = os.path.join(work, "demo.yaml")
with open(cfg, "w") as f:
    f.write(text)

step("fieldgate run -c demo.yaml: the gateway and 4 field devices register")
log = open(os.path.join(work, "fieldgate.log"), "w")
gw = subprocess.Popen([fg, "run", "-c", cfg, "--log-target=stderr"], stderr=log, stdout=subprocess.DEVNULL,
                      stdin=subprocess.DEVNULL, env=dict(os.environ, NOTIFY_SOCKET=""))

def read(ep, path, quiet=False):
    r = srv.request("read", ep="demo-gw-" + ep, path=path, timeout=10)
    v = records_by_path(r).get(path) if r["code"] == "2.05" else "(%s)" % r["code"]
    if not quiet:
        say("READ   %-15s %-14s -> %s" % (ep, path, v))
    return v

def wait_value(ep, path, want, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if read(ep, path, quiet=True) == want:
            return True
        time.sleep(0.2)
    return False

try:
    for ep in ("demo-gw", "demo-gw-energy-meter", "demo-gw-cellar", "demo-gw-kitchen", "demo-gw-coffee-machine"):
        reg = srv.wait_event("register", ep=ep, timeout=20)
        say("registered: %-24s objects %s" % (reg["ep"], " ".join(p for p in reg["paths"] if p != "/")))

    step("Modbus registers read through LwM2M (profiles eastron-sdm120, xy-md02)")
    wait_value("energy-meter", "/3316/0/5700", 230.5)
    read("energy-meter", "/3316/0/5700")   # Voltage, float32 in input registers 0-1
    read("energy-meter", "/3317/0/5700")   # Current
    read("energy-meter", "/3305/0/5800")   # Active power
    read("energy-meter", "/3305/0/5805")   # Cumulative energy: kWh in the meter, Wh in LwM2M
    read("energy-meter", "/3318/0/5700")   # Frequency
    read("cellar", "/3303/0/5700")         # Temperature: int16 tenths
    read("cellar", "/3304/0/5700")         # Humidity

    step("the power changes in the meter: the observer is notified at the next poll (1 s)")
    obs = srv.request("observe", ep="demo-gw-energy-meter", path="/3305/0/5800", timeout=10)
    say("OBSERVE energy-meter /3305/0/5800 -> %s %s" % (obs["code"], records_by_path(obs).get("/3305/0/5800")))
    mb.set(1, "input", 0x000C, f32(1812.25))
    say("pymodbus: unit 1 input registers 12-13 := 1812.25 (float32)")
    n = srv.wait_event("notify", ep="demo-gw-energy-meter", timeout=10)
    say("NOTIFY energy-meter /3305/0/5800 -> %s" % records_by_path(n)["/3305/0/5800"])
    srv.request("cancel", observation=obs["id"], mode="get", timeout=10)

    step("zigbee2mqtt publishes: values arrive over MQTT (profile z2m-th-sensor)")
    state = '{"temperature":21.4,"humidity":48.5,"battery":87,"voltage":2950,"linkquality":120}'
    broker.pub("zigbee2mqtt/kitchen-sensor", state, qos=1)
    say("$ mosquitto_pub -t zigbee2mqtt/kitchen-sensor -m '%s'" % state)
    wait_value("kitchen", "/3303/0/5700", 21.4)
    read("kitchen", "/3303/0/5700")
    read("kitchen", "/3304/0/5700")
    read("kitchen", "/3/0/9")              # Battery level
    obs = srv.request("observe", ep="demo-gw-kitchen", path="/3303/0/5700", timeout=10)
    broker.pub("zigbee2mqtt/kitchen-sensor", '{"temperature":22.9,"humidity":47.0,"battery":87}', qos=1)
    say("$ mosquitto_pub ... '{\"temperature\":22.9, ...}'")
    n = srv.wait_event("notify", ep="demo-gw-kitchen", timeout=10)
    say("NOTIFY kitchen /3303/0/5700 -> %s" % records_by_path(n)["/3303/0/5700"])
    broker.pub("zigbee2mqtt/kitchen-sensor", "not json at all", qos=1)
    say("$ mosquitto_pub ... 'not json at all'   (counted, logged, nothing changes)")
    read("kitchen", "/3303/0/5700")

    step("LwM2M Write to the smart plug: a publish, answered when the plug's state echoes")
    sub = broker.sub("zigbee2mqtt/plug-1/set")
    t0 = time.monotonic()
    cid = srv.send("write", ep="demo-gw-coffee-machine", path="/3312/0/5850", value=True, type="boolean",
                   timeout=15)
    say("WRITE  coffee-machine /3312/0/5850 := true")
    say("broker sees: %s" % sub.wait(1)[0])
    broker.pub("zigbee2mqtt/plug-1", '{"state":"ON","power":1180.5,"energy":3.25}', qos=1)
    say("the plug answers on zigbee2mqtt/plug-1: {\"state\":\"ON\",\"power\":1180.5,\"energy\":3.25}")
    r = srv.response(cid, timeout=15)
    say("WRITE answered %s after %.0f ms" % (r["code"], (time.monotonic() - t0) * 1000))
    wait_value("coffee-machine", "/3305/0/5800", 1180.5)
    read("coffee-machine", "/3305/0/5800")
    read("coffee-machine", "/3305/0/5805")

    step("the Modbus server goes away: its devices become unreachable (/3/0/11 Error Code 16)")
    mb.stop()
    say("pymodbus stopped")
    wait_value("energy-meter", "/3/0/11/0", 16)
    read("energy-meter", "/3/0/11/0")
    read("kitchen", "/3/0/11/0")
    out = subprocess.run([fg, "-c", cfg, "status"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        say(line)
    mb = PyModbus(units=(1, 2), port=mb.port)
    field_values(mb)
    say("pymodbus started again on the same port")
    wait_value("energy-meter", "/3/0/11/0", 0)
    read("energy-meter", "/3/0/11/0")
    read("energy-meter", "/3316/0/5700")

    step("SIGHUP: reload with a fifth device (the others keep their registrations)")
    with open(cfg, "a") as f:
        f.write("  - name: garage\n    bridge: zigbee\n    address: garage-sensor\n    profile: z2m-th-sensor\n")
    gw.send_signal(signal.SIGHUP)
    reg = srv.wait_event("register", ep="demo-gw-garage", timeout=20)
    say("registered: %s" % reg["ep"])
    time.sleep(0.5)
    again = [e["ep"] for e in srv.events("register") if e["ep"] != "demo-gw-garage"]
    say("the other endpoints: %d registrations for %d endpoints%s" % (
        len(again), len(set(again)), " (none registered again)" if len(again) == len(set(again)) else ""))

    step("the LwM2M server creates a device (Object 26242 of the gateway, SenML CBOR)")
    fields = {0: "hallway", 1: "zigbee", 2: "hallway-sensor", 3: "z2m-th-sensor"}
    r = srv.request("create", ep="demo-gw", path="/26242", ct=112, timeout=15,
                    records=[{"path": "/26242/9/%d" % k, "value": v} for k, v in fields.items()])
    say("CREATE demo-gw /26242 {Name: hallway, Bridge: zigbee, Address: hallway-sensor, Profile: "
        "z2m-th-sensor} -> %s %s" % (r["code"], r.get("location")))
    reg = srv.wait_event("register", ep="demo-gw-hallway", timeout=20)
    say("registered: %s (nothing else registered again)" % reg["ep"])
    broker.pub("zigbee2mqtt/hallway-sensor", '{"temperature":19.0,"humidity":52.0}', qos=1)
    wait_value("hallway", "/3303/0/5700", 19.0)
    read("hallway", "/3303/0/5700")
    say("kept for the next start, in the configuration's syntax (fieldgate check reads it):")
    with open("/tmp/fieldgate-demo/devices/hallway.yaml") as f:
        for line in f:
            say("  " + line.rstrip("\n"))
    deadline = time.monotonic() + 5
    while True:  # the state follows the registration within 200 ms
        v = records_by_path(srv.request("read", ep="demo-gw", path="/26242/9", timeout=10))
        if v.get("/26242/9/7") == "registered" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    say("READ   demo-gw /26242/9 -> State %s, Endpoint %s, Source %s" % (
        v.get("/26242/9/7"), v.get("/26242/9/9"), v.get("/26242/9/10")))
    fields = {0: "attic", 1: "zigbee", 2: "attic-sensor", 3: "z2m-th-sensr"}
    r = srv.request("create", ep="demo-gw", path="/26242", ct=112, timeout=15,
                    records=[{"path": "/26242/10/%d" % k, "value": v} for k, v in fields.items()])
    say("CREATE ... Profile: z2m-th-sensr -> %s" % r["code"])
    say("  %s" % r.get("text", ""))
    r = srv.request("delete", ep="demo-gw", path="/26242/9", timeout=15)
    say("DELETE demo-gw /26242/9 -> %s" % r["code"])
    say("de-registered: %s" % srv.wait_event("deregister", ep="demo-gw-hallway", timeout=10)["ep"])

    step("the LwM2M server installs a profile bundle (Object 9 of the gateway)")
    pkg = bundlemk.profile_bundle("acme-sensors", "1.0", "acme-th", gz=True)
    say("bundle acme-sensors-1.0.tar.gz: bundle.yaml (name, version, profiles: [acme-th]), "
        "profiles/acme-th.yaml; %d bytes" % len(pkg))
    r = srv.request("create", ep="demo-gw", path="/9", ct=112, records=[], timeout=15)
    say("CREATE demo-gw /9 -> %s %s" % (r["code"], r.get("location")))
    r = srv.request("write", ep="demo-gw", path="/9/0/2", ct=42, hex=pkg.hex(), timeout=30)
    v = records_by_path(srv.request("read", ep="demo-gw", path="/9/0", timeout=10))
    say("WRITE  demo-gw /9/0/2 (the package) -> %s; Update State %s (DELIVERED), PkgName %s, PkgVersion %s" % (
        r["code"], v.get("/9/0/7"), v.get("/9/0/0"), v.get("/9/0/1")))
    r = srv.request("execute", ep="demo-gw", path="/9/0/4", timeout=30)
    v = records_by_path(srv.request("read", ep="demo-gw", path="/9/0", timeout=10))
    say("EXEC   demo-gw /9/0/4 (Install, checked as `fieldgate check` would) -> %s; Update State %s "
        "(INSTALLED), Update Result %s, Activation State %s" % (r["code"], v.get("/9/0/7"), v.get("/9/0/9"),
                                                               v.get("/9/0/12")))
    fields = {0: "porch", 1: "zigbee", 2: "porch-sensor", 3: "acme-th"}
    r = srv.request("create", ep="demo-gw", path="/26242", ct=112, timeout=15,
                    records=[{"path": "/26242/11/%d" % k, "value": v} for k, v in fields.items()])
    say("CREATE demo-gw /26242 {Name: porch, ..., Profile: acme-th} -> %s" % r["code"])
    say("registered: %s" % srv.wait_event("register", ep="demo-gw-porch", timeout=20)["ep"])
    for _ in range(40):  # until its subscription is in place
        broker.pub("zigbee2mqtt/porch-sensor", '{"temperature":7.5,"humidity":81.0}', qos=1)
        if wait_value("porch", "/3303/0/5700", 7.5, timeout=0.5):
            break
    read("porch", "/3303/0/5700")
    r = srv.request("delete", ep="demo-gw", path="/26242/11", timeout=15)
    srv.wait_event("deregister", ep="demo-gw-porch", timeout=10)
    r = srv.request("execute", ep="demo-gw", path="/9/0/6", timeout=30)
    say("DELETE demo-gw /26242/11, EXEC demo-gw /9/0/6 (Uninstall) -> %s: back to the shipped profiles" % r["code"])

    step("fieldgate status")
    out = subprocess.run([fg, "-c", cfg, "status"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        say(line)

    step("SIGTERM: every endpoint de-registers")
    gw.send_signal(signal.SIGTERM)
    gone = []
    while len(gone) < 6:
        gone.append(srv.wait_event("deregister", timeout=10)["ep"])
    for ep in gone:
        say("de-registered: %s" % ep)
    say("fieldgate exit status: %d" % gw.wait(timeout=20))
finally:
    if gw.poll() is None:
        gw.kill()
    srv.stop()
    mb.stop()
    broker.close()
    log.close()

step("the daemon's log (info level, first lines)")
with open(os.path.join(work, "fieldgate.log")) as f:
    lines = [l.rstrip("\n") for l in f if not l.startswith("<7>")]
for l in lines[:16]:
    say(l)
if len(lines) > 16:
    say("... (%d more lines)" % (len(lines) - 16))
PY
