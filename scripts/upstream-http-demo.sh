#!/usr/bin/env bash
# Runs upstream Link SDK C's own HTTP uplink demo, http_basic_demo.c (bring your copy; nothing of
# it is in this repository; the copy checked is upstream 4.1.0's demos/http_basic_demo.c, as in
# liuchintao/ali-linksdk: 4.2 and the 2023 snapshot ship the same header but no HTTP demo)
# against libaiot and the local platform:
#
#   scripts/upstream-http-demo.sh /path/to/LinkSDK/demos/http_basic_demo.c
#
# Only what a user edits anyway is changed in a temporary copy: host ("localhost"), port (the
# platform's HTTPS port), the device triple (the platform's demo device) and ali_ca_cert (the
# platform's test CA, from a separate file). It runs twice: as shipped (authentication only:
# "aiot_http_auth succeed", exit 0), and with the demo's own TODO applied (the commented-out
# demo_http_post_lightswitch() call enabled, its topic naming the device), which must print the
# platform's answer with business code 0.
set -euo pipefail
demo=${1:?usage: scripts/upstream-http-demo.sh PATH/TO/http_basic_demo.c}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp

write_ca_loader "$tmp/local_ca.c"

# The user settings: host, port, device triple.
settings() {
  sed -E -e 's/"iot-as-http.cn-shanghai.aliyuncs.com"/"localhost"/' \
         -e 's/^( *)uint16_t( *)port = 443;/\1uint16_t\2port = (uint16_t)atoi(getenv("AIOT_AUTH_PORT"));/' \
         -e 's/^( *char *\*product_key *= *)"[^"]*";/\1getenv("AIOT_PRODUCT_KEY");/' \
         -e 's/^( *char *\*device_name *= *)"[^"]*";/\1getenv("AIOT_DEVICE_NAME");/' \
         -e 's/^( *char *\*device_secret *= *)"[^"]*";/\1getenv("AIOT_DEVICE_SECRET");/'
}
settings < "$demo" > "$tmp/http_auth.c"
# The demo's TODO: enable the post, naming the device in its topic.
python3 - "$tmp/http_auth.c" "$tmp/http_post.c" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
post, n = re.subn(r'/\*\s*\n(\s*demo_http_post_lightswitch\(http_handle\);\s*\n\s*printf\("\\r\\n"\);)\s*\n\s*\*/',
                  r'\1', src)
if n != 1:
    sys.exit("the commented-out demo_http_post_lightswitch() call was not found")
post, n = re.subn(r'"/sys/[^/"]+/[^/"]+/thing/event/property/post"',
                  '(snprintf(demo_topic, sizeof(demo_topic), "/sys/%s/%s/thing/event/property/post", '
                  'getenv("AIOT_PRODUCT_KEY"), getenv("AIOT_DEVICE_NAME")), demo_topic)', post)
if n != 1:
    sys.exit("the property post topic was not found")
post = post.replace('int32_t demo_http_post_lightswitch(void *handle)\n{',
                    'static char demo_topic[256];\nint32_t demo_http_post_lightswitch(void *handle)\n{', 1)
open(sys.argv[2], 'w').write(post)
PY
build() {
  cc -std=gnu99 -include stdlib.h -I"$root/include" "$tmp/$1.c" "$tmp/local_ca.c" -o "$tmp/$1" \
    -L"$lib" -laiot -lpthread -Wl,-rpath,"$lib"
}
run() { # name, program, expected lines (all must appear)
  local name=$1 prog=$2; shift 2
  if "$lib/aiot-platform" exec --timeout 60 -- stdbuf -oL "$tmp/$prog" > "$tmp/$name.log" 2>&1; then
    for want in "$@"; do
      grep -a -q -E "$want" "$tmp/$name.log" || { cat "$tmp/$name.log"; echo "upstream $name: no line /$want/"; return 1; }
    done
    echo "upstream $name: passed"
  else
    cat "$tmp/$name.log"; echo "upstream $name: FAILED"; return 1
  fi
}
build http_auth
build http_post
ok=1
run http-auth http_auth '^aiot_http_auth succeed' '^program exit as normal return' || ok=0
run http-post http_post '^aiot_http_auth succeed' '^\{"code":0,"info":\{"messageId":[0-9]+\},"message":"success"\}' \
  '^program exit as normal return' || ok=0
[ "$ok" = 1 ] && echo "upstream HTTP demo: all passed against libaiot" || { echo "upstream HTTP demo: FAILED"; exit 1; }
