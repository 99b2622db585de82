#!/usr/bin/env bash
# Installs (Debian packages) and starts what fleet's tests and demo need, only where missing:
# redis-server, a Docker engine, bubblewrap, busybox-static, git, chromium + chromedriver.
# Idempotent; safe to run on a machine that already has everything. Needs root for apt-get.
set -euo pipefail

log() { printf '[deps] %s\n' "$*" >&2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v bwrap >/dev/null || missing+=(bubblewrap)
if ! { [ -x /bin/busybox ] && (ldd /bin/busybox 2>&1 || true) | grep -qE "not a dynamic|statically linked"; }; then
  missing+=(busybox-static)
fi
command -v git >/dev/null || missing+=(git)
command -v redis-cli >/dev/null || missing+=(redis-tools)
# Compose v2 (`docker compose`) where the client has it, else Debian's docker-compose.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  missing+=(docker-compose)
fi
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ "${FLEET_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
fi

if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A Docker engine: use the one that answers, else start dockerd ourselves.
if ! docker info >/dev/null 2>&1; then
  if command -v dockerd >/dev/null; then
    log "starting dockerd (log: /tmp/fleet-dockerd.log)"
    (nohup dockerd >/tmp/fleet-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  if docker info >/dev/null 2>&1; then
    log "docker engine is up"
  else
    log "WARNING: no Docker engine answers; docker tests will fail (see /tmp/fleet-dockerd.log)"
  fi
fi
