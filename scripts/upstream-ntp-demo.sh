#!/usr/bin/env bash
# Runs upstream Link SDK C's own ntp_posix_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-ntp-demo.sh /path/to/LinkSDK/demos/ntp_posix_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost"), the port (the platform's TLS port) and, for the second run, the time zone.
# ali_ca_cert is replaced by the platform's test CA from a separate file. The platform's clock
# is fixed (AIOT_PLATFORM_TIME_MS) at 2036-02-29T23:30:00Z, so the demo's one line
# "local time: <ms>, YYYY/MM/DD-hh:mm:ss:ms" is known in advance: 2036/03/01-07:30:00 in the
# demo's UTC+8, 2036/02/29-18:30:00 in UTC-5. The demo never exits (it sleeps forever after the
# request), so each run lasts SECONDS (default 8) and its log is judged: the request went out
# on /ext/ntp/<pk>/<dn>/request without any SUBSCRIBE, exactly one local time came back and it
# is the expected one.
set -euo pipefail
demo=${1:?usage: scripts/upstream-ntp-demo.sh NTP_POSIX_DEMO.c [SECONDS]}
secs=${2:-8}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_ntp_send_request' ntp_posix_demo.c

platform_ms=2087940600000

write_ca_loader "$tmp/local_settings.c"

ok=1
for zone_date in "8 2036/03/01-07:30:00" "-5 2036/02/29-18:30:00"; do
  read -r zone date <<<"$zone_date"
  device_settings 443 \
    -e "s/int8_t      time_zone = 8;/int8_t      time_zone = $zone;/" \
    "$demo" > "$tmp/demo.c"
  require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' "time_zone = $zone;"
  build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"
  echo "== upstream ntp_posix_demo.c, time zone $zone, platform clock $platform_ms ms"
  # The demo never exits: exec's timeout ends it, the log decides.
  AIOT_PLATFORM_TIME_MS=$platform_ms "$lib/aiot-platform" exec --timeout "$secs" -- \
    stdbuf -oL "$tmp/demo" > "$tmp/log" 2>&1 || true
  tr -d "\r" < "$tmp/log"
  want="^local time: ${platform_ms:0:9}[0-9]{4}, $date:[0-9]+\$"
  n=$(grep -a -c -E '^local time: ' "$tmp/log" || true)
  if [ "$n" != 1 ]; then echo "MISSING: exactly one 'local time:' line (got $n)"; ok=0; fi
  grep -a -q -E "$want" "$tmp/log" || { echo "MISSING: $want"; ok=0; }
  grep -a -q -F "pub: /ext/ntp/$pk/$dn/request" "$tmp/log" || { echo "MISSING: the request"; ok=0; }
  if grep -a -q 'sub: ' "$tmp/log"; then echo "UNEXPECTED: the demo subscribed"; ok=0; fi
  if grep -a -q 'AIOT_NTPEVT_' "$tmp/log"; then echo "UNEXPECTED: an NTP event"; ok=0; fi
done
[ "$ok" = 1 ] && echo "upstream ntp demo: local time right for UTC+8 and UTC-5 against libaiot" \
  || { echo "upstream ntp demo: FAILED"; exit 1; }
