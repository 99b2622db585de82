#!/usr/bin/env bash
# Builds the fleet-agent helper as a fully static binary (glibc, +crt-static), so it runs in
# images that have no libc at all. Prints the binary's path.
#   ./scripts/build-agent-helper.sh [OUT_DIR]     (default: target/static-helper)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/static-helper}
# Its own target dir: crt-static must not leak into the rest of the workspace's build.
cargo rustc --quiet --locked -p fleet-agent --release --bin fleet-agent \
  --target-dir "$out" -- -C target-feature=+crt-static -C strip=debuginfo >&2
bin="$out/release/fleet-agent"
if (ldd "$bin" 2>&1 || true) | grep -qE "not a dynamic executable|statically linked"; then
  echo "$bin"
else
  echo "error: $bin is not static" >&2
  exit 1
fi
