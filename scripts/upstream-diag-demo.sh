#!/usr/bin/env bash
# Runs upstream Link SDK C's own diag_basic_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-diag-demo.sh /path/to/LinkSDK/demos/diag_basic_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port); ali_ca_cert is replaced by the platform's
# test CA from a separate file. The local platform answers at once, so the connect is made slow
# on purpose: the broker is stopped (SIGSTOP) when the demo starts and resumed 1.5 s later, so
# the TLS handshake and CONNACK wait. The demo never exits; it runs for SECONDS (default 10).
# Judged: the demo connected, its event handler printed a FATAL DiagMqttConnection alert
# ("MQTT connection establish time <n> ms", n >= 500), and the platform recorded that alert as
# a device log (/thing/log/post, code 16).
set -euo pipefail
demo=${1:?usage: scripts/upstream-diag-demo.sh DIAG_BASIC_DEMO.c [SECONDS]}
secs=${2:-10}
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/usr/sbin:$PATH"
lib="$root/build/cargo/release"
[ -f "$lib/libaiot.so" ] || { echo "build first: cmake -S . -B build && cmake --build build"; exit 2; }
grep -q 'aiot_diag_init' "$demo" || { echo "$demo is not upstream's diag_basic_demo.c"; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pk=a1TestPK001 dn=device1

cat > "$tmp/local_settings.c" <<'CSRC'
/* The platform's test CA, read before main(). */
#include <stdio.h>
#include <stdlib.h>
const char *ali_ca_cert;
static char pem[65536];
__attribute__((constructor)) static void local_settings(void)
{
    FILE *f = fopen(getenv("AIOT_CA_FILE"), "rb");
    if (f == NULL) {
        perror("AIOT_CA_FILE");
        exit(2);
    }
    pem[fread(pem, 1, sizeof(pem) - 1, f)] = '\0';
    fclose(f);
    ali_ca_cert = pem;
}
CSRC

sed -e "s/\"\${YourProductKey}\"/\"$pk\"/" \
    -e "s/\"\${YourDeviceName}\"/\"$dn\"/" \
    -e 's/"${YourDeviceSecret}"/"s3cr3tDeviceSecretForTests0001"/' \
    -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' \
    -e 's/uint16_t    port = 443;/uint16_t    port = (uint16_t)atoi(getenv("AIOT_TLS_PORT"));/' \
    "$demo" > "$tmp/demo.c"
for edit in 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'; do
  grep -q -F "$edit" "$tmp/demo.c" || { echo "could not apply the user setting $edit"; exit 2; }
done
cc -std=gnu99 -include stdlib.h -I"$root/include" "$tmp/demo.c" "$tmp/local_settings.c" \
  -o "$tmp/demo" -L"$lib" -laiot -lpthread -Wl,-rpath,"$lib"

# The demo with the broker paused for its first 1.5 s; bounded by exec's timeout.
cat > "$tmp/run.sh" <<'SH'
#!/bin/sh
broker=$(cat "$AIOT_BROKER_PID_FILE")
kill -STOP "$broker"
stdbuf -oL "$DEMO" &
sleep 1.5
kill -CONT "$broker"
wait
SH
chmod +x "$tmp/run.sh"
echo "== upstream diag_basic_demo.c, broker paused for the first 1.5 s"
mkdir "$tmp/state"
DEMO="$tmp/demo" "$lib/aiot-platform" exec --state-dir "$tmp/state" --timeout "$secs" -- "$tmp/run.sh" \
  > "$tmp/log" 2>&1 || true
tr -d "\r" < "$tmp/log" > "$tmp/log.txt"; mv "$tmp/log.txt" "$tmp/log"
cat "$tmp/log"
echo "== the platform's record of /thing/log/post"
cat "$tmp/state/logpost.log" 2>/dev/null || true
ok=1
grep -a -q '^AIOT_MQTTEVT_CONNECT' "$tmp/log" || { echo "MISSING: the connect"; ok=0; }
line=$(grep -a -E '^AIOT_DIAGEVT_ALERT, module name: DiagMqttConnection, level: FATAL, desc: MQTT connection establish time [0-9]+ ms$' "$tmp/log" | head -1 || true)
if [ -z "$line" ]; then
  echo "MISSING: a FATAL DiagMqttConnection alert"; ok=0
else
  ms=$(printf '%s' "$line" | sed -E 's/.* time ([0-9]+) ms$/\1/')
  [ "$ms" -ge 500 ] || { echo "UNEXPECTED: connect time $ms ms below the fatal threshold"; ok=0; }
fi
grep -q '"code":"16".*"logLevel":"FATAL","module":"DiagMqttConnection"' "$tmp/state/logpost.log" 2>/dev/null \
  || { echo "MISSING: the alert at the platform"; ok=0; }
if grep -a -q 'aiot_diag_.* failed' "$tmp/log"; then echo "UNEXPECTED: a diag call failed"; ok=0; fi
[ "$ok" = 1 ] && echo "upstream diag demo: slow connect raised a FATAL alert, locally and at the platform, against libaiot" \
  || { echo "upstream diag demo: FAILED"; exit 1; }
