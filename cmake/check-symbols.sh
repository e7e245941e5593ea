#!/bin/sh
# libaiot.so exports upstream's names only: aiot_*, g_aiot_sysdep_portfile and ali_ca_cert.
set -eu
so="$1"
syms=$(nm -D --defined-only "$so" | awk '{print $3}')
bad=$(printf '%s\n' "$syms" | grep -Ev '^(aiot_[a-z_]+|g_aiot_sysdep_portfile|ali_ca_cert)$' || true)
count=$(printf '%s\n' "$syms" | grep -c .)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
for want in aiot_mqtt_init aiot_mqtt_pub aiot_ota_init aiot_download_recv g_aiot_sysdep_portfile ali_ca_cert; do
  printf '%s\n' "$syms" | grep -qx "$want" || { echo "missing export $want"; exit 1; }
done
echo "$count exported symbols, all upstream names"
