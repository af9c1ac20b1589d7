#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Regenerate the certificates of tests/lwm2m/test_certname.c (DER, self-
# signed: only the names matter there, not who signed them). Run here:
#   sh make.sh
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"

# cert NAME SUBJECT [SUBJECTALTNAME] [KEY OPTIONS]
cert() {
	name=$1 subj=$2 san=${3:-} key=${4:-$ec}
	# shellcheck disable=SC2086
	openssl req -x509 $key -nodes -keyout "$tmp/key" -days 3650 -subj "$subj" \
		${san:+-addext "subjectAltName=$san"} -outform DER -out "$name.der" 2>/dev/null
}

cert dns-localhost /CN=other.example DNS:localhost
cert ip /CN=localhost "IP:127.0.0.1,IP:::1"
cert cn-only /CN=localhost
cert cn-ip /CN=127.0.0.1
cert cn-two /CN=other.example/CN=localhost
cert wildcard /CN=wildcard "DNS:*.example.com"
cert partial /CN=partial "DNS:f*o.example,DNS:*o.example,DNS:xn--*.example"
cert mapped /CN=mapped "IP:::ffff:127.0.0.1"
cert uri-only /CN=localhost "URI:coaps://localhost"
cert many /CN=many "$(seq -s, -f 'DNS:name%02g.example.com' 1 40)"
cert ed25519 /CN=localhost DNS:localhost "-newkey ed25519"
