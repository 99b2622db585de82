#!/usr/bin/env bash
# Builds fleet's images locally, with no registry: every image is FROM scratch plus files from
# this machine (static busybox, our binaries and the shared libraries ldd lists).
#   ./scripts/build-images.sh            the agent image fleet-agent:latest
#   ./scripts/build-images.sh all        also fleet-controller:latest and fleet-worker:latest
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-agent}

log() { printf '[images] %s\n' "$*" >&2; }

busybox=/bin/busybox
if ! (ldd "$busybox" 2>&1 || true) | grep -qE "not a dynamic executable|statically linked"; then
  echo "error: $busybox is not the static busybox; apt-get install busybox-static" >&2
  exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

log "building the static fleet-agent helper"
helper=$(./scripts/build-agent-helper.sh)

log "building fleet-agent:latest (demo agents)"
mkdir -p "$ctx/agent"
cp "$busybox" "$ctx/agent/busybox"
cp "$helper" "$ctx/agent/fleet-agent"
cp -r images/agent/agents "$ctx/agent/agents"
cp images/agent/Dockerfile "$ctx/agent/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t fleet-agent:latest --label io.fleet.image=agent "$ctx/agent" >/dev/null
log "fleet-agent:latest ready"

if [ "$what" = all ]; then
  ./scripts/build-service-images.sh
fi
