#!/bin/sh
# libaiot.so exports upstream's names only: aiot_*, g_aiot_sysdep_portfile and ali_ca_cert.
# Each component built in exports its functions; a component left out exports none of them.
#
# usage: check-symbols.sh LIBAIOT_SO [COMPONENT=ON|OFF ...]   (e.g. OTA=ON DM=OFF NTP=ON)
set -eu
so="$1"
shift
syms=$(nm -D --defined-only "$so" | awk '{print $3}')
bad=$(printf '%s\n' "$syms" | grep -Ev '^(aiot_[a-z_]+|g_aiot_sysdep_portfile|ali_ca_cert)$' || true)
count=$(printf '%s\n' "$syms" | grep -c .)
if [ -n "$bad" ]; then
  echo "unexpected exported symbols:"; echo "$bad"; exit 1
fi
want="aiot_mqtt_init aiot_mqtt_pub g_aiot_sysdep_portfile ali_ca_cert"
for arg in "$@"; do
  component=${arg%%=*}
  case "$component" in
    OTA) names="aiot_ota_init aiot_download_recv"; prefix='^aiot_(ota|download)_' ;;
    DM) names="aiot_dm_init aiot_dm_setopt aiot_dm_send aiot_dm_deinit"; prefix='^aiot_dm_' ;;
    NTP) names="aiot_ntp_init aiot_ntp_setopt aiot_ntp_send_request aiot_ntp_deinit"; prefix='^aiot_ntp_' ;;
    DYNREGMQ) names="aiot_dynregmq_init aiot_dynregmq_setopt aiot_dynregmq_send_request aiot_dynregmq_recv aiot_dynregmq_deinit"
              prefix='^aiot_dynregmq_' ;;
    DYNREG) names="aiot_dynreg_init aiot_dynreg_setopt aiot_dynreg_send_request aiot_dynreg_recv aiot_dynreg_deinit"
            prefix='^aiot_dynreg_' ;;
    BOOTSTRAP) names="aiot_bootstrap_init aiot_bootstrap_setopt aiot_bootstrap_send_request aiot_bootstrap_recv aiot_bootstrap_deinit"
               prefix='^aiot_bootstrap_' ;;
    HTTP) names="aiot_http_init aiot_http_setopt aiot_http_auth aiot_http_send aiot_http_recv aiot_http_deinit"
          prefix='^aiot_http_' ;;
    MQTT_DOWNLOAD) names="aiot_mqtt_download_init aiot_mqtt_download_setopt aiot_mqtt_download_process aiot_mqtt_download_deinit"
                   prefix='^aiot_mqtt_download_' ;;
    TASK) names="aiot_task_init aiot_task_setopt aiot_task_get_task_list aiot_task_get_task_detail aiot_task_update aiot_task_deinit"
          prefix='^aiot_task_' ;;
    SHADOW) names="aiot_shadow_init aiot_shadow_setopt aiot_shadow_send aiot_shadow_deinit"; prefix='^aiot_shadow_' ;;
    DEVINFO) names="aiot_devinfo_init aiot_devinfo_setopt aiot_devinfo_send aiot_devinfo_deinit"; prefix='^aiot_devinfo_' ;;
    LOGPOST) names="aiot_logpost_init aiot_logpost_setopt aiot_logpost_send aiot_logpost_deinit"
             prefix='^aiot_logpost_' ;;
    DIAG) names="aiot_diag_init aiot_diag_setopt aiot_diag_start aiot_diag_stop aiot_diag_deinit"
          prefix='^aiot_diag_' ;;
    *) echo "check-symbols: unknown component $component"; exit 2 ;;
  esac
  case "${arg#*=}" in
    ON|on|1|TRUE|true) want="$want $names" ;;
    *) if printf '%s\n' "$syms" | grep -Eq "$prefix"; then
         echo "$component names exported by a build without $component"; exit 1
       fi ;;
  esac
done
for w in $want; do
  printf '%s\n' "$syms" | grep -qx "$w" || { echo "missing export $w"; exit 1; }
done
echo "$count exported symbols, all upstream names"
