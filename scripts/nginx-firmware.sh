#!/usr/bin/env bash
# Serves IMAGE over HTTPS from a private nginx (Debian's package, its default TLS settings) while
# PROGRAM runs, for the download bench (scripts/bench.sh); not a test.
#
#   aiot-platform ota-exec --image IMAGE ... -- scripts/nginx-firmware.sh IMAGE PROGRAM [ARGS...]
#
# Run as ota-exec's program: the server certificate is the platform's own (`firmware.pem`,
# `firmware.key`, DNS:localhost, next to AIOT_CA_FILE), so the device trusts it as it trusts the
# platform's firmware server. nginx listens on 127.0.0.1 on a free port, runs in the foreground
# (`daemon off`) as the current user with its config, pid file, logs and temp paths in a temp
# dir, and is stopped when PROGRAM ends. PROGRAM gets the image's URL in AIOT_BENCH_URL_OVERRIDE.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 IMAGE PROGRAM [ARGS...]" >&2; exit 2; }
image=$(realpath "$1"); shift
state=$(dirname "${AIOT_CA_FILE:?run under aiot-platform ota-exec}")
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is not installed (scripts/bench.sh installs it)" >&2; exit 1; }
dir=$(mktemp -d)
pid=
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
mkdir -p "$dir/www" "$dir/logs"
ln -s "$image" "$dir/www/fw.bin"
# A root master hands the requests to workers of the `user` directive (default nobody), who could
# not read the temp dir; as any other user the directive is not allowed to change anything.
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"
start() { # port; 0 once nginx listens, 1 if it exited (port taken)
  cat >"$dir/nginx.conf" <<EOF
daemon off;
$user_line
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events {}
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
        listen 127.0.0.1:$1 ssl;
        server_name localhost;
        ssl_certificate $state/firmware.pem;
        ssl_certificate_key $state/firmware.key;
        root $dir/www;
    }
}
EOF
  "$nginx" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" &
  pid=$!
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; pid=; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
port=
for _ in $(seq 10); do
  p=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue # taken
  if start "$p"; then port=$p; break; fi
done
[ -n "$port" ] || { echo "nginx did not start" >&2; cat "$dir/logs/error.log" >&2 || true; exit 1; }
AIOT_BENCH_URL_OVERRIDE="https://localhost:$port/fw.bin" "$@"
