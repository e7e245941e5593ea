#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests, header drift and ABI checks, then the
# C demos through CTest against a real mosquitto started by the local platform.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export PATH="/usr/sbin:$PATH"

echo "== cargo test (workspace)"
cargo test --workspace --locked 2>&1

echo "== ABI check of include/ against upstream 4.2"
scripts/abi-check.sh -q \
  || { echo "abi-check failed"; exit 1; }

echo "== CMake build + CTest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
(cd build && ctest --output-on-failure -j2 --timeout 300)
