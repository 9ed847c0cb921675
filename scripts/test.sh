#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, unit and integration tests
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
step() { printf '\n== %s\n' "$*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
# The crash harness needs the failpoints build (src/txn/failpoint.rs); lint it too.
cargo clippy --locked --workspace --all-targets --features kiosk/failpoints -- -D warnings
step "device services: pcscd + vpcd, CUPS + cups-pdf, emupos (Python 3.13)"
# The device tests use real parts: they fail (not skip) when these are missing.
scripts/svc/pcscd.sh
eval "$(scripts/svc/cups.sh)"
scripts/svc/emupos.sh >/dev/null
export KIOSK_REQUIRE_PCSCD=1 KIOSK_REQUIRE_CUPS=1 KIOSK_REQUIRE_EMUPOS=1
step "cargo test"
# With failpoints: tests/crash.rs kills the kiosk at every one of them.
cargo test --locked --workspace --features kiosk/failpoints
step "OpenAPI conformance of the HIS simulator (schemathesis)"
scripts/check-his-openapi.sh --start-sim
step "all tests passed"
