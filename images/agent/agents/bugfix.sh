#!/bin/sh
# Demo bugfix agent: replaces the marker BUG with FIXED wherever it appears, or records the fix.
. /opt/fleet/agents/common.sh
step 20 "looking for the bug"
FILES="$(grep -rl --exclude-dir=.git 'BUG' . 2>/dev/null || true)"
if [ -n "$FILES" ]; then
  for f in $FILES; do
    sed -i 's/BUG/FIXED/g' "$f"
    fleet-agent log "fixed $f"
  done
  step 80 "fixed $(printf '%s\n' "$FILES" | wc -l) file(s)"
else
  printf -- '- %s: %s\n' "$ORDER_ID" "$(printf '%s' "$PROMPT" | head -n 1)" >> FIXES.md
  step 80 "recorded the fix in FIXES.md"
fi
fleet-agent result "Fixed: $(printf '%s' "$PROMPT" | head -n 1)"
