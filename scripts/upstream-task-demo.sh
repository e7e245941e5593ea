#!/usr/bin/env bash
# Runs upstream Link SDK C's own task_posix_demo.c (bring your copy; nothing of it is in this
# repository) against libaiot and the local platform:
#
#   scripts/upstream-task-demo.sh /path/to/LinkSDK/demos/task_posix_demo.c [SECONDS]
#
# Only what a user edits anyway is changed in a temporary copy: the device triple, the host
# ("localhost") and the port (the platform's TLS port; the demo connects with the CA
# credential). ali_ca_cert is replaced by the platform's test CA from a separate file.
#
# The platform's side: before the demo starts, job-1 (a document and a jobFile) is queued, so
# the demo's aiot_task_get_task_detail(NULL) ($next) gets it and reports IN_PROGRESS with
# progress 88; a few seconds later job-2 is created and pushed (`aiot-platform task notify`),
# which the demo copies and reports IN_PROGRESS from its callback. The demo never exits (it
# sleeps forever), so the run lasts SECONDS (default 12) and is judged from its log and the
# platform's job records: both jobs reached the device with their fields, every report got
# code 200, the platform holds both jobs IN_PROGRESS (job-1 at 88) and the automatic
# notify_reply, and the demo never subscribed.
set -euo pipefail
demo=${1:?usage: scripts/upstream-task-demo.sh TASK_POSIX_DEMO.c [SECONDS]}
secs=${2:-12}
. "$(dirname "$0")/lib/upstream-demo-common.sh"
demo_tmp 'aiot_task_get_task_detail' task_posix_demo.c

write_ca_loader "$tmp/local_settings.c"

device_settings 1883 "$demo" > "$tmp/demo.c"
require_edits "$tmp/demo.c" 'a1TestPK001' 'getenv("AIOT_TLS_PORT")' '"localhost"'
build_demo "$tmp/demo.c" "$tmp/local_settings.c" "$tmp/demo"

# The platform's side, run by exec beside the demo.
cat > "$tmp/run.sh" <<'SH'
set -eu
P=$AIOT_PLATFORM S=$AIOT_STATE_DIR
"$P" task create --state-dir "$S" --id job-1 --document '{"op":"upgrade","to":"2.0"}' \
  --file-url https://files.example/job-1.bin --sign 0123456789abcdef --sign-method Md5 >/dev/null
( sleep 4
  "$P" task create --state-dir "$S" --id job-2 --document '{"op":"reboot"}' >/dev/null
  "$P" task notify --state-dir "$S" --id job-2 > "$S/notify-reply.txt" ) &
exec stdbuf -oL "$DEMO"
SH
echo "== upstream task_posix_demo.c against libaiot"
exec_demo sh "$tmp/run.sh"
ok=1
want() { grep -a -q -F -- "$1" "$tmp/log" || { echo "MISSING: $1"; ok=0; }; }
want "pub: /sys/$pk/$dn/thing/job/get"
want "revice task get detail, code:[200]"
want "revice task get detail reply, task_id:[job-1],status:[1]"
want 'job_document[{"op":"upgrade","to":"2.0"}],document_file_url:[https://files.example/job-1.bin], sign_method:[Md5],sign[0123456789abcdef]'
want "revice task notify, task_id:[job-2],status:[1],job_document[{\"op\":\"reboot\"}],document_file_url:[(null)]"
want "revice task update reply, task_id:[job-1]"
want "revice task update reply, task_id:[job-2]"
n=$(grep -a -c -F 'revice task update reply, code:[200]' "$tmp/log" || true)
[ "$n" = 2 ] || { echo "MISSING: two update replies with code 200 (got $n)"; ok=0; }
if grep -a -q 'sub: ' "$tmp/log"; then echo "UNEXPECTED: the demo subscribed"; ok=0; fi
grep -a -q -F '"code":200,"data":{}' "$tmp/state/notify-reply.txt" 2>/dev/null \
  || { echo "MISSING: the notify_reply seen by the platform"; ok=0; }
show() { "$lib/aiot-platform" task show --state-dir "$tmp/state" --id "$1" | tr -d ' \n'; }
show job-1 | grep -q '"status":"IN_PROGRESS","progress":88,' || { echo "MISSING: job-1 IN_PROGRESS at 88"; ok=0; }
show job-2 | grep -q '"status":"IN_PROGRESS",' || { echo "MISSING: job-2 IN_PROGRESS"; ok=0; }
show job-2 | grep -q '"replyCode":200' || { echo "MISSING: job-2's notify_reply recorded"; ok=0; }
[ "$ok" = 1 ] && echo "upstream task demo: \$next, notify and both reports answered against libaiot" \
  || { echo "upstream task demo: FAILED"; exit 1; }
