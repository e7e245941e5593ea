#!/usr/bin/env bash
# The main job: build everything, start the local platform (mosquitto with Aliyun device auth,
# an HTTPS firmware server, the platform's OTA side), push a firmware image to the demo device
# and run the upstream-shaped threaded FOTA demo to completion. Its output reads like the seed
# log of upstream's fota_posix_demo (body dumps LK-040E left out, as upstream's demo does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="/usr/sbin:$PATH"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
exec build/cargo/release/aiot-platform ota-exec --timeout 120 --expect success -- build/fota_threads_demo
