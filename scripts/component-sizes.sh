#!/usr/bin/env bash
# Prints what each component adds to the stripped shared library, built as CMake builds it
# (`cargo rustc --release --crate-type cdylib,staticlib`, whole-program LTO).
#
#   marginal: the default library against the default library without that component (what
#             turning its CMake option off saves; code shared with other components, such as
#             serde_json or the HTTP client, is counted only when no other component keeps it)
#   alone:    the MQTT core with that component alone against the MQTT core (the worst case: the
#             component pays for everything it needs)
#
# usage: scripts/component-sizes.sh [COMPONENT ...]   (default: every default feature)
#        AIOT_SIZES_ALONE=0 skips the "alone" builds (half the time)
# A figure, not a test. Builds go to target/sizes/ (one directory, built one after another).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${AIOT_SIZES_TARGET_DIR:-target/sizes}
strip_bin=${STRIP:-strip}

# Default features, and for each feature the default features that need it.
read -r -a defaults < <(python3 - <<'PY'
import tomllib
d = tomllib.load(open("Cargo.toml", "rb"))
print(" ".join(d["features"]["default"]))
PY
)
dependents() {
  python3 - "$1" <<'PY'
import sys, tomllib
d = tomllib.load(open("Cargo.toml", "rb"))["features"]
want = sys.argv[1]
out = [f for f in d["default"] if f != want and want in d.get(f, [])]
print(" ".join(out))
PY
}

size_of() { # FEATURES(comma list, may be empty) -> stripped size of libaiot.so
  local features=$1 args=(--no-default-features)
  [ -n "$features" ] && args+=(--features "$features")
  CARGO_TARGET_DIR="$target" nice -n 10 cargo rustc --quiet --release --locked "${args[@]}" \
    -p aiot --lib --crate-type cdylib,staticlib >&2
  "$strip_bin" -o "$target/libaiot.stripped.so" "$target/release/libaiot.so"
  stat -c %s "$target/libaiot.stripped.so"
}

join() { local IFS=,; echo "$*"; }

components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${defaults[@]}")

full=$(size_of "$(join "${defaults[@]}")")
alone_too=${AIOT_SIZES_ALONE:-1}
core=0
[ "$alone_too" = 0 ] || core=$(size_of "")
printf '%-16s %12s\n' "default library" "$full B"
[ "$alone_too" = 0 ] || printf '%-16s %12s\n' "MQTT core" "$core B"
printf '%-16s %10s %10s  %s\n' component marginal alone note
for c in "${components[@]}"; do
  read -r -a deps < <(dependents "$c"; echo)
  rest=()
  for f in "${defaults[@]}"; do
    skip=0
    [ "$f" = "$c" ] && skip=1
    for d in "${deps[@]}"; do [ "$f" = "$d" ] && skip=1; done
    [ $skip = 1 ] || rest+=("$f")
  done
  without=$(size_of "$(join "${rest[@]}")")
  alone=$core
  [ "$alone_too" = 0 ] || alone=$(size_of "$c")
  note=""
  [ ${#deps[@]} -gt 0 ] && note="marginal includes ${deps[*]} (needs $c)"
  shown="+$((alone - core))"
  [ "$alone_too" = 0 ] && shown="-"
  printf '%-16s %10s %10s  %s\n' "$c" "+$((full - without))" "$shown" "$note"
done
