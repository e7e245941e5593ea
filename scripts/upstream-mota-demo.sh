#!/usr/bin/env bash
# Runs upstream Link SDK C's own mota_basic_demo.c (OTA over MQTT; bring your copy, e.g.
# LinkSDK/demos/mota_basic_demo.c of the 2023 snapshot: nothing of it is in this repository)
# against libaiot and the local platform:
#
#   scripts/upstream-mota-demo.sh /path/to/LinkSDK/demos/mota_basic_demo.c
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port); ali_ca_cert is replaced by the
# platform's test CA from a separate file. `aiot-platform mota-exec` pushes a dProtocol mqtt job
# on the demo's version report and serves the blocks; the demo appends them to mota_demo.bin in
# its working folder and stops on SUCCESS. Judged: progress 5..100 without failure, the file
# equal to the image, "mqtt download ota success" and "digest matched" in the log. A second run
# serves two blocks with a corrupted CRC: the SDK asks for them again and still succeeds.
set -euo pipefail
demo=${1:?usage: scripts/upstream-mota-demo.sh MOTA_BASIC_DEMO.c}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
grep -q 'aiot_mqtt_download_process' "$demo" || { echo "$demo is not upstream's mota_basic_demo.c"; exit 2; }
demo=$(cd "$(dirname "$demo")" && pwd)/$(basename "$demo")
demo_tmp

write_ca_loader "$tmp/local_settings.c"

sed -e 's/"${YourProductKey}"/"a1TestPK001"/' \
    -e 's/"${YourDeviceName}"/"device1"/' \
    -e 's/"${YourDeviceSecret}"/"s3cr3tDeviceSecretForTests0001"/' \
    -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' \
    -e 's/uint16_t port = 1883;/uint16_t port = (uint16_t)atoi(getenv("AIOT_TLS_PORT"));/' \
    "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'device1' 's3cr3tDeviceSecretForTests0001' '"localhost"' 'getenv("AIOT_TLS_PORT")'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

ok=1
run() {
  local name=$1; shift
  local dir="$tmp/$name"
  mkdir -p "$dir"
  echo "== upstream mota_basic_demo.c: $name"
  if ! (cd "$dir" && "$lib/aiot-platform" mota-exec --timeout 120 --expect success --out mota_demo.bin "$@" \
          -- stdbuf -oL "$tmp/demo") > "$tmp/$name.log" 2>&1; then
    ok=0
  fi
  tr -d '\r' < "$tmp/$name.log" | grep -a -v -E '^\[[0-9.]+\]\[LK-030[89A]\]|^\[[0-9.]+\]\[LK-030A\]' | grep -a -v -E '^ *[0-9a-f]{2} ' || true
  for want in 'mqtt download ota success' '[LK-0901] digest matched' 'verdict  : PASS'; do
    grep -a -q -F "$want" "$tmp/$name.log" || { echo "MISSING: $want"; ok=0; }
  done
  grep -a -q -F 'mqtt download ota failed' "$tmp/$name.log" && { echo "UNEXPECTED: failed"; ok=0; }
  return 0
}
run plain
run crc-faults --fault crc:3:2
[ "$ok" = 1 ] && echo "upstream mota demo: image downloaded over MQTT and verified against libaiot" \
  || { echo "upstream mota demo: FAILED"; exit 1; }
