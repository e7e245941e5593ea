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
# The run passes when the platform saw the upgrade through (1.0.0, progress to 100, the image's
# hash, 1.1.0) and the demo's log has the seed log's shape (c_demos/ota/seed_log_order.txt).
exec build/cargo/release/aiot-platform ota-exec --timeout 120 --expect success \
  --expect-order-file c_demos/ota/seed_log_order.txt -- build/fota_threads_demo
