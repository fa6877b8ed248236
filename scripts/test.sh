#!/usr/bin/env bash
# Provision, build everything, run every test. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/provision.sh
# Builds the canopy binary too: the interop tests (tests/) run it from the
# same target directory.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo test --workspace
