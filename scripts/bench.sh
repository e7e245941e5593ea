#!/usr/bin/env bash
# Speed and footprint figures (not a test): connect times, publish rates, stripped .so size,
# OTA downloads and peak RSS. MQTT and download figures are printed as min / median / max over
# AIOT_BENCH_RUNS runs (default 5).
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
# The MQTT core alone (no component) and the core with OTA, built as CMake builds the library
# (cargo rustc, whole-program LTO), as the MQTT core and performance issues measure them.
lib_size() { # FEATURES (comma list, may be empty) -> stripped size of libaiot.so
  local args=(--no-default-features)
  [ -n "$1" ] && args+=(--features "$1")
  CARGO_TARGET_DIR=target/sizes cargo rustc --quiet --release --locked "${args[@]}" \
    -p aiot --lib --crate-type cdylib,staticlib >&2
  strip -o "$tmp/libaiot-sized.so" target/sizes/release/libaiot.so
  stat -c %s "$tmp/libaiot-sized.so"
}
echo "stripped_libaiot_so_mqtt_only_bytes $(lib_size "")"
echo "stripped_libaiot_so_mqtt_ota_bytes $(lib_size ota)"
echo "exported_symbols $(nm -D --defined-only "$so" | awk '{print $3}' | grep -c .)"
# The hot-function order (link/hot-symbols.txt) only helps while its names exist in the build;
# regenerate it with scripts/hot-symbols.sh when this falls.
echo "hot_symbols_in_library $(grep -v '^#' link/hot-symbols.txt | sort -u | comm -12 - <(nm --defined-only "$so" | awk '{print $3}' | sort -u) | wc -l)/$(grep -vc '^#' link/hot-symbols.txt)"
# MQTT: mosquitto with its default settings, as a user's broker runs (AIOT_BROKER_DEFAULTS=1),
# and the platform's tuned broker as an extra column; with AIOT_UPSTREAM_SDK=/path/to/LinkSDK
# also upstream's SDK built ad hoc (scripts/upstream-bench.sh), all interleaved in one run.
# The same sources built against upstream give the upstream column of the download and RSS
# figures too.
mqtt_columns=(aiot=build/mqtt_bench aiot@tuned=build/mqtt_bench)
impls=(aiot)
if [[ -n ${AIOT_UPSTREAM_SDK:-} ]]; then
  scripts/upstream-bench.sh --build-only "$AIOT_UPSTREAM_SDK" "$tmp/upstream"
  mqtt_columns=(upstream="$tmp/upstream/upstream_mqtt_bench" "${mqtt_columns[@]}")
  impls=(aiot upstream)
fi
scripts/mqtt-bench.sh "${mqtt_columns[@]}"
# One ota_bench download under the platform: prints its figures, fails the bench unless the
# library verified the image (ota_bench keeps no copy of it, so ota-exec's own verdict, which
# wants AIOT_FIRMWARE_OUT, does not apply: its exit code is not used). ota_prog is the program
# ota-exec runs (ota_bench itself, or ota_bench behind scripts/nginx-firmware.sh).
ota_prog=(build/ota_bench)
ota_bench() { # grep pattern of the figures to print, then ota-exec options
  local pattern=$1 log="$tmp/ota-bench.log"; shift
  build/cargo/release/aiot-platform ota-exec --timeout 300 --image-size 67108864 --expect success \
    "$@" -- "${ota_prog[@]}" >"$log" 2>&1 || true
  grep -E "$pattern" "$log" || true
  grep -q '^ota_download_result verified' "$log" || { echo "ota_bench: download not verified" >&2; tail -30 "$log" >&2; exit 1; }
}
# Two servers for the same 64 MiB image file: the platform's own firmware server, and nginx
# (Debian's package, its default TLS settings: a real HTTPS server with Range, as firmware CDNs
# are), private instance on 127.0.0.1 with the platform's certificate (scripts/nginx-firmware.sh).
# curl fetches the same URL in the same run.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "== installing: nginx"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
echo "nginx_version $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "openssl_version $(openssl version)"
image="$tmp/firmware.bin"
head -c 67108864 /dev/urandom >"$image"
# MD5 speed of one core (OpenSSL's, 16 KiB blocks), the yardstick of the MD5 download.
md5_core=$(openssl speed -evp md5 -bytes 16384 -seconds 3 2>/dev/null | awk '/^md5/ {sub(/k$/, "", $2); printf "%.1f", $2 * 1000 / 1e6}')
echo "md5_one_core_MB_per_s $md5_core"
# The machine's speed drifts by 10-15 % over minutes: five downloads per digest and server, the
# servers interleaved, every figure printed, then min / median / max of each per server
# (AIOT_BENCH_RUNS changes the count).
runs=${AIOT_BENCH_RUNS:-5}
# Figures of upstream's build (AIOT_UPSTREAM_SDK) carry the prefix "upstream_" (its
# "aiot_vs_curl" is then upstream's download over curl's).
prefixes=("")
((${#impls[@]} > 1)) && prefixes+=(upstream_)
for method in sha256 md5; do
  for _ in $(seq "$runs"); do
    for server in platform nginx; do
      for impl in "${impls[@]}"; do
        echo "server $server, $impl"
        bin=build/ota_bench prefix=""
        [ "$impl" = upstream ] && bin=$tmp/upstream/upstream_ota_bench prefix=upstream_
        ota_prog=("$bin")
        [ "$server" = nginx ] && ota_prog=(scripts/nginx-firmware.sh "$image" "$bin")
        ota_bench '^(ota_|curl_|aiot_vs)' --sign-method "$method" --image "$image" | tee -a "$tmp/ota-$method-$prefix$server"
      done
    done
  done
  for prefix in "${prefixes[@]}"; do
    for server in platform nginx; do
      for key in "ota_download_${method}_MB_per_s" "ota_download_${method}_cpu_s" curl_MB_per_s aiot_vs_curl; do
        grep "^$key " "$tmp/ota-$method-$prefix$server" | awk '{print $2}' | sort -g | awk -v k="$prefix${server}_$key" \
          '{v[NR]=$1} END {if (NR) printf "%s_min_median_max %s %s %s\n", k, v[1], v[int((NR+1)/2)], v[NR]}'
      done
    done
  done
done
ota_prog=(build/ota_bench)
md5_sets=(platform nginx)
((${#prefixes[@]} > 1)) && md5_sets+=(upstream_platform upstream_nginx)
for server in "${md5_sets[@]}"; do
  grep "^ota_download_md5_MB_per_s " "$tmp/ota-md5-$server" | awk '{print $2}' | sort -g | awk -v s="$server" -v c="$md5_core" \
    '{v[NR]=$1} END {if (NR && c > 0) printf "%s_md5_download_vs_one_core_min_median_max %.2f %.2f %.2f\n", s, v[1] / c, v[int((NR+1)/2)] / c, v[NR] / c}'  # The same in CPU terms (64 MiB over the client's CPU time): what the client can do when it
  # never waits for the server, comparable with openssl speed's CPU time on a busy machine too.
  grep "^ota_download_md5_cpu_s " "$tmp/ota-md5-$server" | awk '$2 > 0 {print 67.108864 / $2}' | sort -g | awk -v s="$server" -v c="$md5_core" \
    '{v[NR]=$1} END {if (NR && c > 0) printf "%s_md5_download_cpu_terms_vs_one_core_min_median_max %.2f %.2f %.2f\n", s, v[1] / c, v[int((NR+1)/2)] / c, v[NR] / c}'
done
# The shape of upstream's fota demo: log callback on (every body byte is dumped to it), 8 KiB buffer.
AIOT_BENCH_LOGCB=1 ota_bench '^ota_download_(sha256_logcb|log_lines)' --sign-method sha256
# Peak RSS (VmHWM) of the threaded FOTA demo with a 64 MiB image (ota-exec's verdict must pass),
# linked against libaiot.so and against libaiot.a, interleaved, AIOT_BENCH_RUNS times each:
# min / median / max, then the resident memory of the last run of each by mapping
# (scripts/rss-breakdown.sh, from the demo's copy of its smaps at the end of the run).
links=(shared static)
[[ ${impls[*]} == *upstream* ]] && links+=(upstream_static)
for _ in $(seq "$runs"); do
  for link in "${links[@]}"; do
    demo=build/fota_threads_demo
    [ "$link" = static ] && demo=build/fota_threads_demo_static
    [ "$link" = upstream_static ] && demo=$tmp/upstream/upstream_fota_threads_demo
    AIOT_DEMO_SMAPS="$tmp/smaps-$link" AIOT_DOWNLOAD_BUFFER=8192 build/cargo/release/aiot-platform ota-exec \
      --image-size 67108864 --expect success -- "$demo" >"$tmp/rss.log" 2>&1 \
      || { echo "$demo run failed" >&2; tail -30 "$tmp/rss.log" >&2; exit 1; }
    grep -aE '^peak RSS: [0-9]+ KB' "$tmp/rss.log" | head -1 | awk '{print $3}' >>"$tmp/rss-$link"
  done
done
for link in "${links[@]}"; do
  sort -g "$tmp/rss-$link" | awk -v k="fota_threads_demo_${link}_peak_rss_kb" \
    '{v[NR]=$1} END {if (NR) printf "%s_min_median_max %s %s %s\n", k, v[1], v[int((NR+1)/2)], v[NR]}'
  scripts/rss-breakdown.sh "$tmp/smaps-$link" "fota_threads_demo_${link}_"
done
