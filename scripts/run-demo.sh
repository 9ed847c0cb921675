#!/usr/bin/env bash
# Sets up and runs the demo kiosk: embedded HIS simulator, simulated devices.
# Extra arguments go to `kiosk` (e.g. `-- config check FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --bin kiosk
exec target/release/kiosk "$@"
