#!/usr/bin/env bash
# Crash soak: N cycles of a random paid transaction killed with SIGKILL at a
# random instant, restarted, recovered and checked (tests/crash.rs, `soak`).
# Usage: scripts/soak.sh [N] [SEED]   (default 200 cycles, a time-based seed)
# Prints the seed first so a failing run can be repeated exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
export SOAK_CYCLES="$N"
if [ -n "${2:-}" ]; then export SOAK_SEED="$2"; fi
exec cargo test --locked --features kiosk/failpoints --test crash -- --ignored soak --nocapture
