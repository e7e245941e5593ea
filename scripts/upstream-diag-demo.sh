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
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_diag_init' diag_basic_demo.c

write_ca_loader "$tmp/local_settings.c"

device_settings 443 "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

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
exec_demo "$tmp/run.sh"
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
