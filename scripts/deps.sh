#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine (idempotent).
set -euo pipefail
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
# Headers for the platform's mosquitto plugin (platform/build.rs).
[ -f /usr/include/mosquitto_broker.h ] || need+=(mosquitto-dev)
# mosquitto-dev's headers include <mosquitto.h>, which only libmosquitto-dev ships.
[ -f /usr/include/mosquitto.h ] || need+=(libmosquitto-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts a system mosquitto on 1883 after installing it; the tests never use it.
