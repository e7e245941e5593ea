#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the parsers that read network bytes, on stable Rust.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run each target SECONDS (default $FUZZ_SECONDS or 60)
#   scripts/fuzz.sh --smoke                 the test command's bounded run (see below)
#   scripts/fuzz.sh --build                 build the targets only
#
# Targets: mqtt_frame ota_push dm_downlink http_response_header url mqtt_download_reply
# shadow_downlink task_downlink devinfo_reply logpost_config (crate fuzz/, its own workspace).
# New inputs go to fuzz/corpus-new/<target>/ (ignored by git): the committed seed corpus in
# fuzz/corpus/<target>/ is read, never written, unless FUZZ_GROW_CORPUS=1. Crashes go to
# fuzz/artifacts/<target>/; turn each into a unit test next to the parser it broke.
#
# Coverage on stable: the `libfuzzer-sys` crate builds libFuzzer from source, and rustc's
# stable `-C passes`/`-C llvm-args` switch on LLVM's SanitizerCoverage (the flags cargo-fuzz
# passes); `--target` keeps the flags off build scripts. No sanitizer runtime: the code under
# test is safe Rust, so debug assertions and overflow checks (fuzz/Cargo.toml) stand in.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

TARGETS=(mqtt_frame ota_push dm_downlink http_response_header url mqtt_download_reply
  shadow_downlink task_downlink devinfo_reply logpost_config)
HOST=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="${RUSTFLAGS:-} -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares"
BIN="target/$HOST/release"

build() {
  cargo build --release --locked --target "$HOST" --bins || {
    echo "fuzz build failed; when the library's dependencies changed, refresh the fuzz crate's" \
         "lock file: (cd fuzz && cargo update --workspace)" >&2
    return 1
  }
}

# run TARGET SECONDS [libFuzzer options...]: the committed seeds plus new inputs.
run() {
  local t=$1 secs=$2
  shift 2
  local seeds="corpus/$t" out="corpus-new/$t"
  [ "${FUZZ_GROW_CORPUS:-0}" = 1 ] && out="$seeds"
  mkdir -p "$out" "artifacts/$t"
  echo "== fuzz $t (${secs} s)"
  "$BIN/$t" "$out" "$seeds" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
    -max_len=65536 -artifact_prefix="artifacts/$t/" -print_final_stats=1 "$@"
}

case "${1:-}" in
  --build)
    build
    ;;
  --smoke)
    # Bounded: each target replays its seeds, then tries at most 20,000 new inputs or 15 s.
    build
    mkdir -p artifacts
    for t in "${TARGETS[@]}"; do
      out=$(mktemp -d)
      status=0
      "$BIN/$t" "$out" "corpus/$t" -runs=20000 -max_total_time=15 -timeout=10 \
        -rss_limit_mb=1024 -max_len=65536 -artifact_prefix="artifacts/$t-" >"$out.log" 2>&1 \
        || status=$?
      grep -E '^(INFO: Loaded 1 modules|#[0-9]+[[:space:]]+(INITED|DONE))' "$out.log" | sed "s/^/$t: /"
      [ "$status" -eq 0 ] || tail -40 "$out.log"
      # Without the coverage flags libFuzzer runs blind: fail rather than pass quietly.
      grep -q 'inline 8-bit counters' "$out.log" || { echo "$t: no coverage counters"; status=1; }
      rm -rf "$out" "$out.log"
      [ "$status" -eq 0 ] || { echo "fuzz smoke run of $t failed (input in fuzz/artifacts/)"; exit 1; }
    done
    ;;
  *)
    secs=${1:-${FUZZ_SECONDS:-60}}
    shift || true
    [ $# -gt 0 ] && TARGETS=("$@")
    build
    for t in "${TARGETS[@]}"; do
      run "$t" "$secs"
    done
    ;;
esac
