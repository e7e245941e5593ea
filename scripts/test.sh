#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, header drift and ABI checks, then the
# C demos through CTest against a real mosquitto started by the local platform.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="/usr/sbin:$PATH"

echo "== cargo test (workspace; feature fuzzing adds the fuzz entry points' seed tests)"
cargo test --workspace --locked --features aiot/fuzzing 2>&1
echo "== cargo test (library without the components: the MQTT core alone)"
cargo test -p aiot --no-default-features --lib --locked 2>&1

echo "== fuzz smoke run: each target over its seed corpus plus 20,000 new inputs (scripts/fuzz.sh)"
scripts/fuzz.sh --smoke

echo "== ABI check of include/ against upstream 4.2"
scripts/abi-check.sh -q \
  || { echo "abi-check failed"; exit 1; }

echo "== CMake build + CTest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
(cd build && ctest --output-on-failure -j2 --timeout 300)

echo "== MQTT-only build (every component OFF) + CTest"
cmake -S . -B build-mqtt -DCMAKE_BUILD_TYPE=Release \
  -DAIOT_WITH_OTA=OFF -DAIOT_WITH_DM=OFF -DAIOT_WITH_NTP=OFF -DAIOT_WITH_DYNREGMQ=OFF \
  -DAIOT_WITH_DYNREG=OFF -DAIOT_WITH_BOOTSTRAP=OFF -DAIOT_WITH_HTTP=OFF \
  -DAIOT_WITH_MQTT_DOWNLOAD=OFF -DAIOT_WITH_TASK=OFF -DAIOT_WITH_SHADOW=OFF \
  -DAIOT_WITH_DEVINFO=OFF -DAIOT_WITH_LOGPOST=OFF -DAIOT_WITH_DIAG=OFF >/dev/null
cmake --build build-mqtt -j2
(cd build-mqtt && ctest --output-on-failure -j2 --timeout 300)
