#!/bin/sh
# Installs what dtwin needs from Debian's packages, and nothing when all of it
# is present (no network access on a machine that has everything).
# usage: scripts/install-deps.sh [extra-package ...]
set -eu

pkgs="cmake make gcc clang pkg-config libcjson-dev libsodium-dev libuv1-dev libcmocka-dev
libclang-rt-14-dev binutils python3 python3-jsonschema mosquitto mosquitto-clients
libmosquitto-dev openssl $*"

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
