# Shared by the demo agents. These are scripted stand-ins for a real coding agent: they read
# the order from /fleet, make a real, small change in /workspace and speak the agent protocol
# through fleet-agent. The prompt is only ever read from a file, never evaluated.
set -eu
cd "${FLEET_WORKSPACE:-/workspace}"
ORDER_ID="${FLEET_ORDER_ID:?}"
PROMPT="$(cat "${FLEET_PROMPT_FILE:-/fleet/prompt.txt}")"
SHORT_ID="$(printf '%s' "$ORDER_ID" | tail -c 8)"
# A first line of the prompt, safe to put in a file name.
SLUG="$(printf '%s' "$PROMPT" | head -n 1 | tr -cs 'A-Za-z0-9' '-' | tr 'A-Z' 'a-z' | cut -c1-40 | sed 's/^-*//; s/-*$//')"
[ -n "$SLUG" ] || SLUG="change"
step() { fleet-agent progress "$1" "$2"; sleep "${DEMO_STEP_SECONDS:-0}"; }
