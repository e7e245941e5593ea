#!/usr/bin/env bash
# Speed and footprint figures (not a test): connect times, publish rates, stripped .so size.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="/usr/sbin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 >/dev/null
so=build/cargo/release/libaiot.so
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
strip -o "$tmp/libaiot.so" "$so"
echo "stripped_libaiot_so_bytes $(stat -c %s "$tmp/libaiot.so")"
echo "exported_symbols $(nm -D --defined-only "$so" | awk '{print $3}' | grep -c .)"
build/cargo/release/aiot-platform exec --timeout 300 -- build/mqtt_bench
