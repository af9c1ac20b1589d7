#!/usr/bin/env bash
# The demo of fieldgate's main job, on one machine: installs what is missing,
# builds, then
#   1. validates conf/demo.yaml and shows how a broken file is reported;
#   2. starts the project's LwM2M test server (fg-lwm2m-server) on a free port;
#   3. runs `fieldgate run` against it: the gateway's own endpoint and two
#      proxied devices (profile demo-sensor) register;
#   4. reads values back through LwM2M, pushes a sample (as a bridge would) and
#      sees the observer notified;
#   5. reloads with SIGHUP (a third device appears, the others keep their
#      registrations), shows `fieldgate status`, stops with SIGTERM and shows
#      every endpoint de-registering.
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
import os, re, signal, subprocess, sys, time
src = os.environ["FG_SOURCE_DIR"]
sys.path.insert(0, os.path.join(src, "tests", "lwm2m-server"))
from fglwm2m import Server, records_by_path

fg = os.path.join(os.environ["FG_BUILD_DIR"], "gateway", "fieldgate")
work = os.environ["DEMO_WORK"]
os.makedirs("/tmp/fieldgate-demo", exist_ok=True)

def step(title):
    print("\n\033[1m== %s\033[0m" % title, flush=True)

def say(text):
    print("   " + text, flush=True)

step("start the LwM2M test server (fg-lwm2m-server) on a free port")
srv = Server(stderr=subprocess.DEVNULL).start()
say("listening on %s" % srv.url)

# conf/demo.yaml, pointed at that server (relative paths made absolute).
with open(os.path.join(src, "conf", "demo.yaml")) as f:
    text = f.read()
text = text.replace("coap://127.0.0.1:5683", srv.url)
text = text.replace("objects_dir: objects", "objects_dir: " + os.path.join(src, "conf", "objects"))
text = text.replace("profiles_path: ../mappings/profiles",
                    "profiles_path: " + os.path.join(src, "mappings", "profiles"))
cfg = os.path.join(work, "demo.yaml")
with open(cfg, "w") as f:
    f.write(text)

step("fieldgate run -c demo.yaml (the gateway and 2 devices register)")
log = open(os.path.join(work, "fieldgate.log"), "w")
gw = subprocess.Popen([fg, "run", "-c", cfg, "--log-target=stderr"], stderr=log, stdout=subprocess.DEVNULL,
                      stdin=subprocess.DEVNULL, env=dict(os.environ, NOTIFY_SOCKET=""))
try:
    for ep in ("demo-gw", "demo-gw-living-room", "demo-gw-kitchen"):
        reg = srv.wait_event("register", ep=ep, timeout=20)
        say("registered: %-22s (%s, objects %s)" % (reg["ep"], reg["addr"],
            " ".join(p for p in reg["paths"] if p != "/")))

    step("read values back through LwM2M")
    def read(ep, path):
        r = srv.request("read", ep=ep, path=path, timeout=10)
        v = records_by_path(r).get(path) if r["code"] == "2.05" else "(%s)" % r["code"]
        say("READ %-20s %-14s -> %s" % (ep, path, v))
        return r
    read("demo-gw", "/3/0/0")
    read("demo-gw", "/3/0/3")
    read("demo-gw-living-room", "/3/0/0")
    read("demo-gw-living-room", "/3/0/2")
    read("demo-gw-kitchen", "/3303/0/5701")

    step("a sample arrives (as from a bridge) and the observer is notified")
    subprocess.run([fg, "-c", cfg, "sample", "living-room", "/3303/0/5700", "21.5"], check=True,
                   stdout=subprocess.DEVNULL)
    say("$ fieldgate sample living-room /3303/0/5700 21.5")
    read("demo-gw-living-room", "/3303/0/5700")
    obs = srv.request("observe", ep="demo-gw-living-room", path="/3303/0/5700", timeout=10)
    say("OBSERVE demo-gw-living-room /3303/0/5700 -> %s" % obs["code"])
    subprocess.run([fg, "-c", cfg, "sample", "living-room", "/3303/0/5700", "22.25"], check=True,
                   stdout=subprocess.DEVNULL)
    say("$ fieldgate sample living-room /3303/0/5700 22.25")
    n = srv.wait_event("notify", ep="demo-gw-living-room", timeout=10)
    say("NOTIFY  demo-gw-living-room /3303/0/5700 -> %s" % records_by_path(n)["/3303/0/5700"])

    step("SIGHUP: reload with a third device (the others keep their registrations)")
    with open(cfg, "a") as f:
        f.write("  - name: garage\n    profile: demo-sensor\n    vars: {serial: GA-0003}\n")
    gw.send_signal(signal.SIGHUP)
    reg = srv.wait_event("register", ep="demo-gw-garage", timeout=20)
    say("registered: %s" % reg["ep"])
    time.sleep(0.5)
    again = [e["ep"] for e in srv.events("register") if e["ep"] != "demo-gw-garage"]
    say("the other endpoints: %d registrations for %d endpoints%s" % (
        len(again), len(set(again)), " (none registered again)" if len(again) == len(set(again)) else ""))

    step("fieldgate status")
    time.sleep(0.3)
    out = subprocess.run([fg, "-c", cfg, "status"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        say(line)

    step("SIGTERM: every endpoint de-registers")
    gw.send_signal(signal.SIGTERM)
    gone = []
    while len(gone) < 4:
        gone.append(srv.wait_event("deregister", timeout=10)["ep"])
    for ep in gone:
        say("de-registered: %s" % ep)
    say("fieldgate exit status: %d" % gw.wait(timeout=20))
finally:
    if gw.poll() is None:
        gw.kill()
    srv.stop()
    log.close()

step("the daemon's log (info level, first lines)")
with open(os.path.join(work, "fieldgate.log")) as f:
    lines = [l.rstrip("\n") for l in f if not l.startswith("<7>")]
for l in lines[:14]:
    say(l)
if len(lines) > 14:
    say("... (%d more lines)" % (len(lines) - 14))
PY
