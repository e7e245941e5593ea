#!/bin/sh
# OTA over MQTT through `aiot-platform serve` + `push --protocol mqtt` (CTest mota_serve_push*):
# starts serve on a new state folder, runs the MQTT download demo against it (environment from
# serve's `export` lines), pushes the job once the demo has reported its version, waits for the
# demo's verdict, compares the file it wrote with the image byte for byte and checks serve's
# stderr for the push, the blocks served (and the fault applied) and the progress to 100.
#
# usage: mota-serve-push.sh AIOT_PLATFORM MOTA_BASIC_DEMO FAULT
#   FAULT: none, or a block fault of `push --protocol mqtt --fault` (e.g. crc:3:3)
# Every wait is bounded; serve (the one process started here besides the demo) is stopped by pid.
set -u
platform=$1
demo=$2
fault=$3

dir=$(mktemp -d "${TMPDIR:-/tmp}/aiot-mota-serve.XXXXXX") || exit 1
serve_pid=
demo_pid=
cleanup() {
    if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null; wait "$demo_pid" 2>/dev/null; fi
    if [ -n "$serve_pid" ]; then
        kill "$serve_pid" 2>/dev/null
        # serve stops its broker and services on SIGTERM; SIGKILL after 10 s.
        i=0
        while kill -0 "$serve_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$serve_pid" 2>/dev/null
        wait "$serve_pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*"
    echo "--- serve stderr"; cat "$dir/serve.err" 2>/dev/null
    echo "--- demo output"; cat "$dir/demo.log" 2>/dev/null
    exit 1
}

# Waits up to $2 tenths of a second for a line holding the fixed text $1 in file $3.
wait_for() {
    i=0
    while ! grep -qF -- "$1" "$3" 2>/dev/null; do
        [ $i -lt "$2" ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
}

"$platform" serve --state-dir "$dir/state" >"$dir/serve.out" 2>"$dir/serve.err" &
serve_pid=$!
wait_for "running; Ctrl-C to stop" 300 "$dir/serve.out" || fail "serve did not start within 30 s"
# serve prints the environment of `aiot-platform exec` as export lines, values in single quotes.
eval "$(grep "^export AIOT_" "$dir/serve.out")"
device="$AIOT_PRODUCT_KEY/$AIOT_DEVICE_NAME"

# A deterministic image of 228,894 bytes: 23 blocks of the demo's 10 KB requests.
seq 1 40000 >"$dir/fw.bin"

# As mota-exec runs it: the file to write, the version it reports once upgraded.
AIOT_FIRMWARE_OUT="$dir/received.bin" AIOT_FIRMWARE_VERSION=1.1.0 AIOT_DEMO_SECONDS=60 \
    "$demo" success >"$dir/demo.log" 2>&1 &
demo_pid=$!
# The demo reports version 1.0.0 once connected; serve shows it. Then the device can take a push.
wait_for "$device  version 1.0.0" 300 "$dir/serve.err" || fail "the demo reported no version within 30 s"

"$platform" push --state-dir "$dir/state" --device "$device" --image "$dir/fw.bin" --version 1.1.0 \
    --protocol mqtt --sign-method md5 --fault "$fault" >"$dir/push.out" 2>&1 ||
    fail "push failed: $(cat "$dir/push.out")"
grep -qF '"dProtocol":"mqtt"' "$dir/push.out" || fail "push printed no dProtocol mqtt job: $(cat "$dir/push.out")"

wait "$demo_pid"
rc=$?
demo_pid=
[ $rc -eq 0 ] || fail "the demo exited with $rc"
cmp "$dir/fw.bin" "$dir/received.bin" || fail "the file the demo wrote differs from the image"

# The demo reports progress 100 and then version 1.1.0 before it exits; serve shows them.
wait_for "$device -> 1.1.0  100% done" 100 "$dir/serve.err" || fail "serve showed no progress 100"
wait_for "$device  version 1.1.0" 100 "$dir/serve.err" || fail "serve showed no report of version 1.1.0"
for line in "pushed: /ota/device/upgrade/$device" "$device  platform pushed 1.1.0" \
    "served: first block of 1.1.0 (228894 bytes, stream 1000001/1)" "served: the image's last block"; do
    grep -qF -- "$line" "$dir/serve.err" || fail "serve did not show: $line"
done
case $fault in
none) ;;
*)
    kind=${fault%%:*}
    grep -qF -- "fault $kind applied" "$dir/serve.err" || fail "serve did not show the fault $kind"
    ;;
esac
echo "--- serve stderr"
cat "$dir/serve.err"
echo "PASS: the demo fetched 1.1.0 over MQTT from serve (fault $fault); the file equals the image"
