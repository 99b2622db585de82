#!/bin/sh
# Demo docs agent: writes a documentation page for the request and links it from docs/README.md.
. /opt/fleet/agents/common.sh
step 20 "outlining"
mkdir -p docs
PAGE="docs/$SLUG.md"
{
  printf '# %s\n\n' "$(printf '%s' "$PROMPT" | head -n 1)"
  printf 'Written for order `%s`.\n\n' "$ORDER_ID"
  printf '## Files in this repository\n\n'
  find . -type f -not -path './.git/*' | sort | head -n 50 | sed 's/^/- /'
} > "$PAGE"
step 70 "linking the page"
printf -- '- [%s](%s)\n' "$SLUG" "$SLUG.md" >> docs/README.md
fleet-agent result "Wrote $PAGE"
