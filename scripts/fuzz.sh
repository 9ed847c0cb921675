#!/usr/bin/env bash
# Fuzz the kiosk-drivers byte parsers with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs every target (or the ones named) for SECONDS each (default 60), one at
# a time: one fuzzing process, one compiler job (CARGO_BUILD_JOBS). Installs
# cargo-fuzz if missing. Works on the stable toolchain: cargo-fuzz passes
# nightly-only rustc flags (-Z sanitizer=..., ...), and RUSTC_BOOTSTRAP=1
# lets stable accept them.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none (faster, catches panics only)
#   FUZZ_FEATURES   cargo features of the fuzz crate (none at present)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-timeout=5"
#
# Corpora are kept in fuzz/corpus/<target> and crashes in
# fuzz/artifacts/<target> (both git-ignored); fuzz/seeds/<target> (valid
# inputs, committed) seeds them. A crash stops the script with libFuzzer's
# report and the command that reproduces it. See docs/fuzzing.md.
set -euo pipefail

cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
case "$secs" in
'' | *[!0-9]*)
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked -j1
fi

export RUSTC_BOOTSTRAP=1
# One compiler job: the machine has 2 cores shared with other builds.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"
features=()
if [ -n "${FUZZ_FEATURES:-}" ]; then
  features=(--features "$FUZZ_FEATURES")
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

for t in "${targets[@]}"; do
  echo "== $t: building (sanitizer $sanitizer)"
  cargo fuzz build --sanitizer "$sanitizer" "${features[@]}" "$t"
  echo "== $t: fuzzing for ${secs}s"
  mkdir -p "fuzz/corpus/$t"
  corpora=("fuzz/corpus/$t") # the first one gets the new inputs
  if [ -d "fuzz/seeds/$t" ]; then
    corpora+=("fuzz/seeds/$t")
  fi
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  cargo fuzz run --sanitizer "$sanitizer" "${features[@]}" "$t" "${corpora[@]}" -- \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1 ${FUZZ_ARGS:-}
done
echo "== all targets ran ${secs}s each without a crash"
