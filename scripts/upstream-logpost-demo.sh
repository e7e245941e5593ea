#!/usr/bin/env bash
# Runs upstream Link SDK C's own logpost_basic_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-logpost-demo.sh /path/to/LinkSDK/demos/logpost_basic_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port); ali_ca_cert is replaced by the platform's
# test CA from a separate file. The demo never exits (it sleeps forever), so it runs for SECONDS
# (default 8): after 3 s the platform's console switch is turned on (`aiot-platform logpost mode
# on`, pushed on .../thing/config/log/push). Judged from the demo's log and the platform's record:
# the config get went out on connect without any SUBSCRIBE, the answer (switch 0) and the push
# (switch 1) each printed "user log switch state is: <n>", and the system logs net_conn and
# net_rt reached the platform's /thing/log/post.
set -euo pipefail
demo=${1:?usage: scripts/upstream-logpost-demo.sh LOGPOST_BASIC_DEMO.c [SECONDS]}
secs=${2:-8}
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="/usr/sbin:$PATH"
lib="$root/build/cargo/release"
[ -f "$lib/libaiot.so" ] || { echo "build first: cmake -S . -B build && cmake --build build"; exit 2; }
grep -q 'aiot_logpost_init' "$demo" || { echo "$demo is not upstream's logpost_basic_demo.c"; exit 2; }
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

# The demo, and the console switch turned on while it runs; bounded by exec's timeout.
cat > "$tmp/run.sh" <<'SH'
#!/bin/sh
stdbuf -oL "$DEMO" &
sleep 3
"$AIOT_PLATFORM" logpost mode on --state-dir "$AIOT_STATE_DIR" >/dev/null
wait
SH
chmod +x "$tmp/run.sh"
echo "== upstream logpost_basic_demo.c, console switch turned on after 3 s"
mkdir "$tmp/state"
DEMO="$tmp/demo" "$lib/aiot-platform" exec --state-dir "$tmp/state" --timeout "$secs" -- "$tmp/run.sh" \
  > "$tmp/log" 2>&1 || true
tr -d "\r" < "$tmp/log" > "$tmp/log.txt"; mv "$tmp/log.txt" "$tmp/log"
cat "$tmp/log"
echo "== the platform's record of /thing/log/post"
cat "$tmp/state/logpost.log" 2>/dev/null || true
ok=1
grep -a -q -F "pub: /sys/$pk/$dn/thing/config/log/get" "$tmp/log" || { echo "MISSING: the config get"; ok=0; }
grep -a -q -x 'user log switch state is: 0' "$tmp/log" || { echo "MISSING: switch 0 (the config answer)"; ok=0; }
grep -a -q -x 'user log switch state is: 1' "$tmp/log" || { echo "MISSING: switch 1 (the console push)"; ok=0; }
grep -a -q -F "pub: /sys/$pk/$dn/thing/log/post" "$tmp/log" || { echo "MISSING: a log post"; ok=0; }
for module in net_conn net_rt; do
  grep -q "\"module\":\"$module\"" "$tmp/state/logpost.log" 2>/dev/null \
    || { echo "MISSING: $module at the platform"; ok=0; }
done
grep -q 'conn_type=TLS^conn_cost=' "$tmp/state/logpost.log" 2>/dev/null || { echo "MISSING: net_conn over TLS"; ok=0; }
if grep -a -q 'sub: ' "$tmp/log"; then echo "UNEXPECTED: the demo subscribed"; ok=0; fi
if grep -a -q 'aiot_logpost_.* failed' "$tmp/log"; then echo "UNEXPECTED: a logpost call failed"; ok=0; fi
[ "$ok" = 1 ] && echo "upstream logpost demo: config get, switch 0 then 1, net_conn and net_rt against libaiot" \
  || { echo "upstream logpost demo: FAILED"; exit 1; }
