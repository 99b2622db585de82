#!/bin/sh
# Demo review agent: reads the repository and reports; changes nothing.
. /opt/fleet/agents/common.sh
step 30 "reading the code"
FILES="$(find . -type f -not -path './.git/*' | wc -l)"
LINES="$(find . -type f -not -path './.git/*' -exec cat {} + 2>/dev/null | wc -l)"
TODOS="$(grep -r --exclude-dir=.git -c 'TODO' . 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')"
step 80 "writing the review"
fleet-agent log "files: $FILES, lines: $LINES, TODOs: $TODOS"
fleet-agent result "Review: $FILES files, $LINES lines, $TODOS TODO(s). No blocking issues found."
