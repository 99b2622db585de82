#!/usr/bin/env bash
# The quick start: a private demo fleet on this machine.
#
#   ./scripts/demo.sh          install what is missing, start redis + controller + 2 workers,
#                              create a demo repository, run one order of every type (one asks
#                              a question, answered here through the CLI), show progress, then
#                              print the dashboard URL and the branches the agents pushed.
#   ./scripts/demo.sh stop     stop the demo fleet (its files stay in .demo/ until the next run)
#
# Everything lives in .demo/ under the repository: redis data, logs, the demo repository, the
# workers' directories. Nothing listens beyond 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
BIN=$ROOT/target/debug

say() { printf '\033[1;36m==>\033[0m %s\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

stop_demo() {
  for pidfile in "$DEMO"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  # Workers drain on SIGTERM; give them a moment before Redis goes.
  sleep 2
  if [ -f "$DEMO/redis-port" ]; then
    redis-cli -p "$(cat "$DEMO/redis-port")" shutdown nosave >/dev/null 2>&1 || true
  fi
}

if [ "${1:-}" = stop ]; then
  stop_demo
  say "demo fleet stopped"
  exit 0
fi

free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  echo "$port"
}

say "installing what is missing (redis, docker, bubblewrap, busybox)"
FLEET_SKIP_BROWSER=1 ./scripts/deps.sh

say "building fleet (first build takes a few minutes)"
cargo build --locked --bins

if docker info >/dev/null 2>&1; then
  EXECUTOR=docker
  say "Docker engine found: agents run in hardened containers; building the agent image"
  ./scripts/build-images.sh agent
else
  EXECUTOR=process
  say "no Docker engine answers: agents run under bubblewrap (process executor)"
  # The shipped definitions run /opt/fleet/agents/<type>.sh; without an image, install them.
  # (The fleet-agent helper is mounted into each sandbox by the worker.)
  mkdir -p /opt/fleet/agents
  cp images/agent/agents/*.sh /opt/fleet/agents/
  ./scripts/build-agent-helper.sh >/dev/null
fi

stop_demo
rm -rf "$DEMO"
mkdir -p "$DEMO"/{logs,redis,work,repos}

REDIS_PORT=$(free_port 6390)
HTTP_PORT=$(free_port 8080)
echo "$REDIS_PORT" > "$DEMO/redis-port"
say "starting redis-server on 127.0.0.1:$REDIS_PORT (AOF on)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DEMO/redis" --appendonly yes \
  --maxmemory-policy noeviction --daemonize yes --logfile "$DEMO/logs/redis.log"
export FLEET_REDIS_URL=redis://127.0.0.1:$REDIS_PORT FLEET_NAME=demo
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

say "starting the controller (dashboard on http://127.0.0.1:$HTTP_PORT/)"
"$BIN/fleet-controller" serve --bind "127.0.0.1:$HTTP_PORT" >"$DEMO/logs/controller.log" 2>&1 &
echo $! > "$DEMO/controller.pid"

for i in 1 2; do
  say "starting worker demo-worker-$i (all six definitions, $EXECUTOR executor)"
  "$BIN/fleet-worker" run --definition all --definitions-dir definitions --executor "$EXECUTOR" \
    --concurrency 3 --name "demo-worker-$i" --work-dir "$DEMO/work" --heartbeat 2s \
    --agent-helper-dir "$ROOT/target/static-helper/release" \
    >"$DEMO/logs/worker-$i.log" 2>&1 &
  echo $! > "$DEMO/worker-$i.pid"
done

say "creating the demo repository $DEMO/repos/demo-app.git"
git init -q --bare "$DEMO/repos/demo-app.git"
src=$(mktemp -d)
git -C "$src" init -q -b main
cat > "$src/README.md" <<'EOF'
# demo-app

A tiny app for the fleet demo. TODO: write a proper introduction.   
EOF
cat > "$src/app.sh" <<'EOF'
#!/bin/sh
# Prints a greeting. (It has a BUG marker the bugfix agent will fix.)
echo "hello from demo-app: BUG"
EOF
git -C "$src" add -A
git -C "$src" -c user.name=demo -c user.email=demo@localhost commit -q -m "initial commit"
git -C "$src" push -q "$DEMO/repos/demo-app.git" main
rm -rf "$src"
REPO="file://$DEMO/repos/demo-app.git"

ctl() { "$BIN/fleet-controller" "$@"; }
# Shows a CLI call the way a person would type it, then runs it.
run_ctl() { printf '\033[2m$ fleet-controller %s\033[0m\n' "$*" >&2; ctl "$@"; }

say "enqueueing one order of every type"
declare -A IDS
for spec in \
  "feature|Add a --verbose flag to the CLI" \
  "bugfix|Fix the BUG that app.sh prints" \
  "test|Add a syntax check for every shell script" \
  "docs|Document how to deploy demo-app" \
  "refactor|Remove trailing whitespace everywhere" \
  "review|Review the repository for obvious problems"; do
  type=${spec%%|*}
  prompt=${spec#*|}
  IDS[$type]=$(run_ctl enqueue --type "$type" --repo "$REPO" --prompt "$prompt")
  echo "${IDS[$type]}"
done

order_state() {
  ctl --json status "$1" 2>/dev/null | grep -o '"state": *"[a-z_]*"' | head -n 1 | sed 's/.*"\([a-z_]*\)"$/\1/'
}

say "watching progress (Ctrl-C leaves the fleet running; ./scripts/demo.sh stop stops it)"
answered=""
deadline=$((SECONDS + 600))
while :; do
  ctl status | sed -n '/recent orders/,$p' | tail -n +2
  # A question from an agent: answer it the way a person would, through the CLI.
  for qid in $(ctl --json questions | grep -o '"id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'); do
    case " $answered " in *" $qid "*) continue ;; esac
    echo
    ctl questions
    run_ctl answer "$qid" "verbose"
    answered="$answered $qid"
  done
  unfinished=0
  for type in "${!IDS[@]}"; do
    case "$(order_state "${IDS[$type]}")" in
      awaiting_approval)
        # Supervised definitions wait for a person: approve, as a reviewer would.
        run_ctl approve "${IDS[$type]}"
        ;;
      queued | running | awaiting_clarification | delayed) unfinished=$((unfinished + 1)) ;;
    esac
  done
  [ "$unfinished" -eq 0 ] && break
  if [ $SECONDS -gt $deadline ]; then
    say "still running after 10 minutes; see the dashboard and $DEMO/logs/"
    break
  fi
  sleep 2
  echo
done

echo
say "all orders finished"
ctl status
echo
say "branches the agents pushed to $REPO:"
git --git-dir "$DEMO/repos/demo-app.git" for-each-ref --format='  %(refname:short)  %(subject)' 'refs/heads/fleet/'
echo
say "dashboard: http://127.0.0.1:$HTTP_PORT/"
echo "    try:   export FLEET_REDIS_URL=$FLEET_REDIS_URL FLEET_NAME=demo"
echo "           $BIN/fleet-controller status ${IDS[feature]}"
echo "           $BIN/fleet-controller audit ${IDS[feature]}"
echo "           $BIN/fleet-controller watch"
echo "    stop:  ./scripts/demo.sh stop"
