#!/usr/bin/env bash
# Installs what fieldgate needs to build, run its demo and run its tests on
# Debian 12, and nothing that is already there. Uses sudo when not root.
#   scripts/install-deps.sh          build + demo + test dependencies
#   scripts/install-deps.sh --demo   the same without the tests' npm packages
set -euo pipefail

with_npm=1
if [[ ${1:-} == --demo ]]; then
	with_npm=0
fi

packages=(
	# build
	meson ninja-build pkg-config gcc clang libclang-rt-14-dev clang-format
	libsystemd-dev libyaml-dev libexpat1-dev libjson-c-dev
	libcoap3-dev libcoap3-bin libmbedtls-dev libmosquitto-dev libmodbus-dev
	scdoc bash-completion
	# updates: package pull over http(s) (Object 5/9), bundles (tar)
	libcurl4-openssl-dev libarchive-dev
	# the Debian package and its test (tests/package)
	debhelper dpkg-dev lintian man-db
	# tests
	libcmocka-dev python3 python3-cbor2 python3-jinja2 openssl
	dbus mosquitto mosquitto-clients python3-pymodbus python3-serial-asyncio python3-dbusmock python3-cryptography socat
	python3-jsonschema python3-prometheus-client groff-base
	nodejs npm
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

# Node.js may come from elsewhere than Debian (e.g. a preinstalled node);
# then Debian's nodejs/npm packages are not needed.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	filtered=()
	for p in "${missing[@]}"; do
		[[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
	done
	missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then
		sudo="sudo"
	fi
	echo "==> installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
	echo "==> all Debian packages present"
fi

# npm packages used by the tests (a third-party LwM2M server, aedes as an
# MQTT 3.1.1-only broker) go into a local folder, never globally.
here=$(cd "$(dirname "$0")/.." && pwd)
if ((with_npm)) && [[ -f "$here/tests/peers/package.json" ]]; then
	if [[ ! -d "$here/tests/peers/node_modules" ]] ||
		[[ "$here/tests/peers/package.json" -nt "$here/tests/peers/node_modules" ]]; then
		echo "==> npm install (tests/peers)"
		(cd "$here/tests/peers" && npm install --no-audit --no-fund --loglevel=error)
		touch "$here/tests/peers/node_modules"
	fi
fi
