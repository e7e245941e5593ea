#!/usr/bin/env bash
# Checks include/ against upstream 4.2's ABI facts for every header we generate
# (../shared/abi/abi-check), skipping the facts of headers we do not ship yet.
set -euo pipefail
cd "$(dirname "$0")/.."
# Upstream's ABI facts: $AIOT_ABI_DIR, else ../shared/abi beside the repository root. Missing
# facts fail the check.
shared=""
for d in "${AIOT_ABI_DIR:-}" ../shared/abi; do
  if [ -n "$d" ] && [ -f "$d/linksdk-abi.json" ] && [ -x "$d/abi-check" ]; then shared=$d; break; fi
done
[ -n "$shared" ] || { echo "upstream ABI facts not found (set AIOT_ABI_DIR)" >&2; exit 2; }
table=$(mktemp --suffix=.json)
trap 'rm -f "$table"' EXIT
python3 - "$shared/linksdk-abi.json" "$table" include <<'PY'
import json, os, sys
src, dst, inc = sys.argv[1:4]
d = json.load(open(src))
have_all = [h for h in d['headers'] if h in set(os.listdir(inc))]
d['headers'] = have_all
have = {h for h in os.listdir(inc) if h.endswith('.h')}
for v in d['versions'].values():
    for key in ('macros', 'enums', 'structs', 'typedefs', 'functions'):
        v[key] = {k: x for k, x in v[key].items() if x.get('header') in have}
    v['headers'] = {k: x for k, x in v['headers'].items() if k in have or x.get('helper')}
json.dump(d, open(dst, 'w'))
PY
echo "headers checked: $(ls include)"
# Every component header we ship (aiot_dm_api.h, ...) must be checked, never skipped; the four
# core headers always are.
require=()
for f in include/aiot_*_api.h; do
  h=${f#include/}
  case "$h" in
    aiot_state_api.h|aiot_sysdep_api.h|aiot_mqtt_api.h|aiot_ota_api.h) ;;
    *) require+=("$h") ;;
  esac
done
# Headers 4.2 lacks (bootstrap, shadow, ...) are checked against the 2023 snapshot's facts.
plus=()
for h in "${require[@]}"; do
  if ! python3 -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))["versions"]["4.2"]["headers"] else 1)' \
      "$shared/linksdk-abi.json" "$h"; then
    plus=(--plus 2023); break
  fi
done
if [ ${#plus[@]} -gt 0 ]; then
  set -- "${plus[@]}" "$@"
fi
if [ ${#require[@]} -gt 0 ]; then
  set -- --require "$(IFS=,; echo "${require[*]}")" "$@"
fi
"$shared/abi-check" --table "$table" include "$@"
