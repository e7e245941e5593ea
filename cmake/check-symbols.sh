#!/bin/sh
# libaiot.so exports upstream's names only: aiot_*, g_aiot_sysdep_portfile and ali_ca_cert.
set -eu
so="$1"
with_ota="${2:-ON}"
with_dynregmq="${3:-ON}"
with_dynreg="${4:-ON}"
syms=$(nm -D --defined-only "$so" | awk '{print $3}')
bad=$(printf '%s\n' "$syms" | grep -Ev '^(aiot_[a-z_]+|g_aiot_sysdep_portfile|ali_ca_cert)$' || true)
count=$(printf '%s\n' "$syms" | grep -c .)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
want="aiot_mqtt_init aiot_mqtt_pub g_aiot_sysdep_portfile ali_ca_cert"
case "$with_ota" in
  ON|on|1|TRUE|true) want="$want aiot_ota_init aiot_download_recv" ;;
  *) # The MQTT-only build exports no OTA name.
     if printf '%s\n' "$syms" | grep -Eq '^aiot_(ota|download)_'; then
       echo "OTA names exported by an MQTT-only build"; exit 1
     fi ;;
esac
case "$with_dynregmq" in
  ON|on|1|TRUE|true) want="$want aiot_dynregmq_init aiot_dynregmq_setopt aiot_dynregmq_send_request aiot_dynregmq_recv aiot_dynregmq_deinit" ;;
  *) if printf '%s\n' "$syms" | grep -q '^aiot_dynregmq_'; then
       echo "dynregmq names exported by a build without it"; exit 1
     fi ;;
esac
case "$with_dynreg" in
  ON|on|1|TRUE|true) want="$want aiot_dynreg_init aiot_dynreg_setopt aiot_dynreg_send_request aiot_dynreg_recv aiot_dynreg_deinit" ;;
  *) if printf '%s\n' "$syms" | grep -q '^aiot_dynreg_'; then
       echo "dynreg names exported by a build without it"; exit 1
     fi ;;
esac
for w in $want; do
  printf '%s\n' "$syms" | grep -qx "$w" || { echo "missing export $w"; exit 1; }
done
echo "$count exported symbols, all upstream names"
