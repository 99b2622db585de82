#!/usr/bin/env bash
# Builds fleet's service images with no registry: FROM scratch plus files from this machine —
# our binaries and exactly the shared libraries `ldd` lists for them, Debian's redis-server
# and redis-cli (with theirs), CA certificates.
#   fleet-redis:latest        redis-server + redis-cli (AOF on via compose's command)
#   fleet-controller:latest   fleet-controller, runs as uid 65534
#   fleet-worker:latest       fleet-worker (+ its static fleet-agent helper)
# Users who can pull base images can build the same from docker/*.Dockerfile instead.
#   ./scripts/build-service-images.sh            release binaries (what you deploy)
#   ./scripts/build-service-images.sh --debug    the debug binaries `cargo build` made (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
[ "${1:-}" = "--debug" ] && profile=debug

log() { printf '[images] %s\n' "$*" >&2; }

ctx_root=$(mktemp -d)
trap 'rm -rf "$ctx_root"' EXIT

# Copies every shared library the given binaries link (as ldd resolves them) into the image
# root $1, keeping their paths, so the binaries run in a FROM scratch image.
copy_libs() {
  local root=$1
  shift
  local f lib
  for f in "$@"; do
    while read -r lib; do
      [ -n "$lib" ] || continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done < <((ldd "$f" 2>/dev/null || true) | awk '/=> \// {print $3} /^[[:space:]]*\// {print $1}')
  done
}

build() {
  local tag=$1 dir=$2
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" --label io.fleet.image=service "$dir" >/dev/null
  log "$tag ready"
}

log "building $profile binaries"
if [ "$profile" = release ]; then
  cargo build --release --locked -q -p fleet-controller -p fleet-worker
elif [ ! -x target/debug/fleet-controller ] || [ ! -x target/debug/fleet-worker ]; then
  # --debug reuses what `cargo build`/`cargo test` made (the compose test runs inside cargo test).
  cargo build --locked -q -p fleet-controller -p fleet-worker
fi
bin_dir=target/$profile
helper=$(./scripts/build-agent-helper.sh)

# --- redis -----------------------------------------------------------------------------
if ! command -v redis-server >/dev/null; then
  echo "error: redis-server is not installed (apt-get install redis-server)" >&2
  exit 1
fi
r="$ctx_root/redis"
mkdir -p "$r/root/data" "$r/root/tmp"
mkdir -p "$r/root/usr/bin"
cp -L "$(command -v redis-server)" "$(command -v redis-cli)" "$r/root/usr/bin/"
copy_libs "$r/root" "$(command -v redis-server)" "$(command -v redis-cli)"
cat > "$r/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY --chown=999:999 root/ /
USER 999:999
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
CMD ["--appendonly", "yes", "--maxmemory-policy", "noeviction", "--dir", "/data", "--protected-mode", "no"]
DOCKERFILE
build fleet-redis:latest "$r"

# --- controller ------------------------------------------------------------------------
c="$ctx_root/controller"
mkdir -p "$c/root/usr/local/bin" "$c/root/tmp"
cp "$bin_dir/fleet-controller" "$c/root/usr/local/bin/"
copy_libs "$c/root" "$bin_dir/fleet-controller"
cat > "$c/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fleet-controller"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
DOCKERFILE
build fleet-controller:latest "$c"

# --- worker ----------------------------------------------------------------------------
w="$ctx_root/worker"
mkdir -p "$w/root/usr/local/bin" "$w/root/tmp" "$w/root/etc/ssl/certs"
cp "$bin_dir/fleet-worker" "$w/root/usr/local/bin/"
copy_libs "$w/root" "$bin_dir/fleet-worker"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$w/root/etc/ssl/certs/"
fi
# The helper lives in the work dir at run time (see the worker's --agent-helper-dir): bind
# mounts name host paths, and the work dir is mounted at the same path on host and worker.
cp "$helper" "$w/root/usr/local/bin/fleet-agent"
cat > "$w/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
# Root inside the container: the worker talks to the Docker socket (root-equivalent anyway)
# and hands each workspace to the sandbox's non-root user. Agents never run as root.
ENV HOME=/tmp SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/usr/local/bin/fleet-worker"]
CMD ["run", "--definition", "all", "--definitions-dir", "/etc/fleet/definitions"]
DOCKERFILE
chmod 1777 "$w/root/tmp" "$c/root/tmp" "$r/root/tmp"
build fleet-worker:latest "$w"

# --- the agent image the shipped definitions use ---------------------------------------
./scripts/build-images.sh agent
