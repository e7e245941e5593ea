#!/usr/bin/env bash
# Runs upstream Link SDK C's own dynamic registration demos (4.2: dynregmq_basic_demo.c and
# dynreg_basic_demo.c; bring your copy, nothing of them is in this repository) against libaiot
# and the local platform:
#
#   scripts/upstream-dynreg-demo.sh /path/to/LinkSDK/demos
#
# Only what a user edits anyway is changed in a temporary copy: product key, product secret,
# device name, host ("localhost") and port (the platform's MQTT TLS port or its HTTPS
# registration port). ali_ca_cert is replaced by the platform's test CA from a separate file.
# dynregmq runs twice, as shipped (no whitelist, a name the platform does not know) and with
# skip_pre_regist = 0 (whitelist, a pre-registered name); dynreg once. Each must exit 0 and
# print what it got.
set -euo pipefail
demos=${1:?usage: scripts/upstream-dynreg-demo.sh LINKSDK_DEMOS_DIR}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp

pk=a1RegTestPK
ps=s3cr3tProductSecretForTests001
triple() {
  sed -E -e "s/^((const )?char \*product_key *= *)\"[^\"]*\";/\1\"$pk\";/" \
         -e "s/^((const )?char \*product_secret *= *)\"[^\"]*\";/\1\"$ps\";/" \
         -e "s/^((const )?char \*device_name *= *)\"[^\"]*\";/\1\"$1\";/"
}
write_ca_loader "$tmp/local_ca.c"
build() {
  cc -std=gnu99 -I"$root/include" "$tmp/$1.c" "$tmp/local_ca.c" -o "$tmp/$1" \
    -L"$lib" -laiot -lpthread -Wl,-rpath,"$lib"
}
run() { # name, program, expected line
  if "$lib/aiot-platform" exec --timeout 60 -- stdbuf -oL "$tmp/$2" > "$tmp/$1.log" 2>&1 \
     && grep -a -q -E "$3" "$tmp/$1.log"; then
    echo "upstream $1: passed"
  else
    cat "$tmp/$1.log"; echo "upstream $1: FAILED"; return 1
  fi
}

mq_port='s/^const uint16_t port = 8883;/uint16_t port = 8883;\n__attribute__((constructor)) static void local_port(void) { port = (uint16_t)atoi(getenv("AIOT_TLS_PORT")); }/'
triple regdev-upstream < "$demos/dynregmq_basic_demo.c" \
  | sed -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' -e "$mq_port" > "$tmp/dynregmq_nwl.c"
triple regdev1 < "$demos/dynregmq_basic_demo.c" \
  | sed -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' -e "$mq_port" \
        -e 's/^uint8_t skip_pre_regist = 1;/uint8_t skip_pre_regist = 0;/' > "$tmp/dynregmq_wl.c"
triple regdev1 < "$demos/dynreg_basic_demo.c" \
  | sed -e 's/"iot-auth.cn-shanghai.aliyuncs.com"/"localhost"/' \
        -e 's/uint16_t    port = 443;/uint16_t port = (uint16_t)atoi(getenv("AIOT_AUTH_PORT"));/' > "$tmp/dynreg.c"
ok=1
for p in dynregmq_nwl dynregmq_wl dynreg; do build "$p"; done
run dynregmq-no-whitelist dynregmq_nwl '^password: [0-9a-f]{32}' || ok=0
run dynregmq-whitelist dynregmq_wl '^device secret: .+' || ok=0
run dynreg-https dynreg '^device secret: .+' || ok=0
[ "$ok" = 1 ] && echo "upstream dynreg demos: all passed against libaiot" || { echo "upstream dynreg demos: FAILED"; exit 1; }
