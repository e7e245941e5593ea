#!/usr/bin/env bash
# TLS connect figures (not a test) against a second mosquitto with the default settings (Nagle
# on: no set_tcp_nodelay), next to the platform's own broker: the platform's configuration
# reduced to its accounts, ACL and TLS listener. Runs bench/connect_bench in fresh processes
# (AIOT_BENCH_RUNS, default 5): each prints a cold connect (full handshake), then connects
# and reconnects of fresh handles.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:$PATH"
if [ "${1:-}" != --inside ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target connect_bench >/dev/null
  exec build/cargo/release/aiot-platform exec --timeout 300 -- "$0" --inside
fi
d=$AIOT_STATE_DIR
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
grep -E '^(user|per_listener_settings|allow_anonymous|password_file|acl_file|persistence) ' "$d/mosquitto.conf" \
  >"$d/default.conf"
printf 'listener %s 127.0.0.1\ncafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n' \
  "$port" "$d" "$d" "$d" >>"$d/default.conf"
mosquitto -c "$d/default.conf" >"$d/default-broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
run() { # label, then the TLS port
  local out
  out=$(mktemp)
  for _ in $(seq "${AIOT_BENCH_RUNS:-5}"); do
    AIOT_TLS_PORT=$2 build/connect_bench | tee -a "$out" | sed "s/^/$1 /"
  done
  for key in tls_connect_cold_ms tls_connect_cold_cpu_ms; do
    grep "^$key " "$out" | awk '{print $2}' | sort -g | awk -v k="$1 ${key}_runs" \
      '{v[NR]=$1} END {if (NR) printf "%s_min_median_max %s %s %s\n", k, v[1], v[int((NR+1)/2)], v[NR]}'
  done
  rm -f "$out"
}
run default_broker "$port"
run tuned_broker "$AIOT_TLS_PORT"
