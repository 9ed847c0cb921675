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
step "cargo test"
cargo test --locked --workspace
step "OpenAPI conformance of the HIS simulator (schemathesis)"
scripts/check-his-openapi.sh --start-sim
step "all tests passed"
