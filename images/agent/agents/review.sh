#!/bin/sh
# Demo review agent: reads the repository and writes its review to REVIEW.md (the only file
# the review definition lets it change).
. /opt/fleet/agents/common.sh
step 30 "reading the code"
FILES="$(find . -type f -not -path './.git/*' | wc -l)"
LINES="$(find . -type f -not -path './.git/*' -exec cat {} + 2>/dev/null | wc -l)"
TODOS="$(grep -r --exclude-dir=.git -c 'TODO' . 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')"
step 80 "writing the review"
{
  printf '# Review for order %s\n\n' "$ORDER_ID"
  printf 'Request: %s\n\n' "$(printf '%s' "$PROMPT" | head -n 1)"
  printf -- '- files: %s\n- lines: %s\n- TODO markers: %s\n\n' "$FILES" "$LINES" "$TODOS"
  printf 'No blocking issues found.\n'
} > REVIEW.md
fleet-agent result "Review: $FILES files, $LINES lines, $TODOS TODO(s). No blocking issues found."
