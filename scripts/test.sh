#!/usr/bin/env bash
# Runs fleet's whole test suite on this machine: installs and starts what it needs first
# (redis-server, Docker engine, bubblewrap, busybox-static, chromium), then checks formatting and
# lints, then runs every test against real Redis, Docker and git.
#   ./scripts/test.sh            everything
#   ./scripts/test.sh queue      only tests whose name contains "queue" (cargo test filter)
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build --bins" >&2
# The CLI, worker-process, compose and chaos tests run the real binaries; `cargo test` alone
# builds them only for packages with integration tests of their own.
cargo build --workspace --bins --locked
echo "== cargo test" >&2
cargo test --workspace --locked -- "$@"
