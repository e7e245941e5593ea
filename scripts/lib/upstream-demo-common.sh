# Sourced by scripts/upstream-*-demo.sh once they have read their arguments: the setup every run
# of an upstream Link SDK C demo against libaiot and the local platform shares. Sets $root,
# $lib (the release build holding libaiot.so and aiot-platform) and the test device $pk/$dn;
# puts /usr/sbin (mosquitto) on PATH; exits 2 when libaiot is not built.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="/usr/sbin:$PATH"
lib="$root/build/cargo/release"
[ -f "$lib/libaiot.so" ] || { echo "build first: cmake -S . -B build && cmake --build build"; exit 2; }
pk=a1TestPK001 dn=device1

# demo_tmp [MARKER NAME]: exits 2 unless $demo holds MARKER (is upstream's NAME); then makes
# $tmp, removed on exit.
demo_tmp() {
  if [ $# = 2 ]; then
    grep -q "$1" "$demo" || { echo "$demo is not upstream's $2"; exit 2; }
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
}

# write_ca_loader FILE: a C file that sets ali_ca_cert to the platform's test CA
# ($AIOT_CA_FILE) before main().
write_ca_loader() {
  cat > "$1" <<'CSRC'
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
}

# device_settings PORT [SED ARGS...] < demo.c > copy.c: what a user edits in the demos that
# name ${YourProductKey} and friends: the device triple, the host ("localhost") and the port
# (`uint16_t    port = PORT;` becomes $AIOT_TLS_PORT). More sed arguments may follow.
device_settings() {
  local port=$1
  shift
  sed -e "s/\"\${YourProductKey}\"/\"$pk\"/" \
      -e "s/\"\${YourDeviceName}\"/\"$dn\"/" \
      -e 's/"${YourDeviceSecret}"/"s3cr3tDeviceSecretForTests0001"/' \
      -e 's/"${YourInstanceId}.mqtt.iothub.aliyuncs.com"/"localhost"/' \
      -e "s/uint16_t    port = $port;/uint16_t    port = (uint16_t)atoi(getenv(\"AIOT_TLS_PORT\"));/" \
      "$@"
}

# require_edits FILE TEXT...: exits 2 unless FILE holds every TEXT (each setting applied).
require_edits() {
  local file=$1 edit
  shift
  for edit in "$@"; do
    grep -q -F "$edit" "$file" || { echo "could not apply the user setting $edit"; exit 2; }
  done
}

# build_demo SRC... OUT: compiles the demo and its helpers against libaiot's headers and library.
build_demo() {
  local out=${*: -1}
  cc -std=gnu99 -include stdlib.h -I"$root/include" "${@:1:$#-1}" \
    -o "$out" -L"$lib" -laiot -lpthread -Wl,-rpath,"$lib"
}

# write_waiting_runner FILE < STEPS: a script for `aiot-platform exec`, called with LOG DEMO
# SECS [more]: it starts DEMO with its output in LOG, defines `wait_for TEXT` (until LOG holds
# TEXT, up to SECS seconds, while the demo runs), runs STEPS (which set ok=1 on success), then
# stops the demo and exits 0 only when ok=1.
write_waiting_runner() {
  {
    cat <<'RUN'
#!/usr/bin/env bash
set -u
log=$1 demo=$2 secs=$3
stdbuf -oL "$demo" > "$log" 2>&1 &
pid=$!
wait_for() { # TEXT: up to $secs seconds
  for _ in $(seq $((secs * 10))); do
    grep -a -q -F "$1" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
RUN
    cat
    cat <<'RUN'
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
[ "$ok" = 1 ]
RUN
  } > "$1"
  chmod +x "$1"
}

# strip_cr FILE: drops the carriage returns of the demo's log.
strip_cr() {
  tr -d "\r" < "$1" > "$1.clean"
  mv "$1.clean" "$1"
}

# exec_demo RUNNER [ARGS...]: runs RUNNER under `aiot-platform exec` with $DEMO=$tmp/demo and
# the platform's state in $tmp/state, for $secs seconds (the demo never exits; the log
# decides); its output, without carriage returns, is left in $tmp/log and printed.
exec_demo() {
  mkdir "$tmp/state"
  DEMO="$tmp/demo" "$lib/aiot-platform" exec --state-dir "$tmp/state" --timeout "$secs" -- "$@" \
    > "$tmp/log" 2>&1 || true
  strip_cr "$tmp/log"
  cat "$tmp/log"
}
