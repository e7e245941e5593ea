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
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_logpost_init' logpost_basic_demo.c

write_ca_loader "$tmp/local_settings.c"

device_settings 443 "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

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
exec_demo "$tmp/run.sh"
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
