#!/bin/sh
# Demo refactor agent: normalises trailing whitespace in text files (a safe, mechanical change).
. /opt/fleet/agents/common.sh
step 20 "scanning for trailing whitespace"
CHANGED=0
for f in $(find . -type f \( -name '*.md' -o -name '*.sh' -o -name '*.txt' \) -not -path './.git/*'); do
  if grep -q '[[:space:]]$' "$f"; then
    sed -i 's/[[:space:]]*$//' "$f"
    CHANGED=$((CHANGED + 1))
  fi
done
if [ "$CHANGED" -eq 0 ]; then
  printf -- '- refactor %s: nothing to normalise\n' "$ORDER_ID" >> REFACTORING.md
fi
step 90 "normalised $CHANGED file(s)"
fleet-agent result "Removed trailing whitespace from $CHANGED file(s)"
