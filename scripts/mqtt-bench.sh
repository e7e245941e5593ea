#!/usr/bin/env bash
# MQTT figures side by side (not a test): runs each column's mqtt_bench under its own
# `aiot-platform exec`, the columns interleaved round by round (the machine's speed drifts by
# 15-30 % over minutes, so columns are only comparable within a run), then prints each figure's
# min / median / max per column, and per round the ratio of the second column's publish
# rates to the first's.
#
#   scripts/mqtt-bench.sh NAME=PROGRAM [NAME=PROGRAM ...]
#
# A column runs against mosquitto with its default settings (AIOT_BROKER_DEFAULTS=1: only what
# authentication and TLS need), unless NAME ends in "@tuned": then against the platform's tuned
# broker (set_tcp_nodelay true, ...). AIOT_BENCH_RUNS rounds (default 5); AIOT_PLATFORM_BIN
# is the aiot-platform to use (default build/cargo/release/aiot-platform).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/sbin:$PATH"
(($#)) || { echo "usage: $0 NAME=PROGRAM [NAME=PROGRAM ...]" >&2; exit 2; }
platform=${AIOT_PLATFORM_BIN:-build/cargo/release/aiot-platform}
runs=${AIOT_BENCH_RUNS:-5}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
names=()
for col in "$@"; do
  names+=("${col%%=*}")
  [[ -x "${col#*=}" ]] || { echo "$0: ${col#*=} is not an executable" >&2; exit 2; }
done
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -1 | sed 's/^mosquitto //'); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); $runs rounds"
for round in $(seq "$runs"); do
  for col in "$@"; do
    name=${col%%=*} program=${col#*=}
    if [[ $name == *@tuned ]]; then defaults=0; else defaults=1; fi
    AIOT_BROKER_DEFAULTS=$defaults "$platform" exec --timeout 300 -- "$program" >"$out/$name.$round" 2>"$out/$name.$round.err" || {
      echo "$0: $name failed in round $round:" >&2; tail -20 "$out/$name.$round.err" >&2; exit 1; }
  done
done
# One line per figure: the figure, then "min / median / max" for each column.
printf '%-36s' figure; printf ' | %-30s' "${names[@]}"; echo
for key in $(awk '{print $1}' "$out/${names[0]}.1"); do
  printf '%-36s' "$key"
  for name in "${names[@]}"; do
    cat "$out/$name".[0-9]* | awk -v k="$key" '$1 == k {print $2}' | sort -g | awk \
      '{v[NR]=$1} END {if (NR) printf " | %-30s", v[1] " / " v[int((NR+1)/2)] " / " v[NR]; else printf " | %-30s", "-"}'
  done
  echo
done
# Per round, the second column's rates over the first's (the pairs ran back to back, so this is
# what the drift leaves comparable): min / median / max of the ratios.
if ((${#names[@]} >= 2)); then
  for key in qos0_tcp_msg_per_s qos1_tcp_msg_per_s; do
    for round in $(seq "$runs"); do
      paste <(awk -v k="$key" '$1 == k {print $2}' "$out/${names[0]}.$round") \
            <(awk -v k="$key" '$1 == k {print $2}' "$out/${names[1]}.$round")
    done | awk '$1 > 0 {printf "%.2f\n", $2 / $1}' | sort -g | awk -v k="${key}_${names[1]}_over_${names[0]}" \
      '{v[NR]=$1} END {if (NR) printf "%-36s | %s\n", k, v[1] " / " v[int((NR+1)/2)] " / " v[NR]}'
  done
fi
