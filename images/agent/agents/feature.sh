#!/bin/sh
# Demo feature agent: asks one clarification question, then adds a feature module and a test.
. /opt/fleet/agents/common.sh
step 10 "reading the repository"
NAME="$(fleet-agent ask --id name --choice "$SLUG" --choice "feature-$SHORT_ID" "What should the new feature be called? (default: $SLUG)")" || NAME="$SLUG"
[ -n "$NAME" ] || NAME="$SLUG"
NAME="$(printf '%s' "$NAME" | tr -cs 'A-Za-z0-9_-' '-' | cut -c1-40)"
step 40 "writing features/$NAME.sh"
mkdir -p features tests
cat > "features/$NAME.sh" <<EOS
#!/bin/sh
# Feature requested in order $ORDER_ID.
echo "feature $NAME is enabled"
EOS
chmod +x "features/$NAME.sh"
step 70 "adding a test"
cat > "tests/test_$NAME.sh" <<EOS
#!/bin/sh
sh features/$NAME.sh | grep -q "feature $NAME is enabled"
EOS
printf -- '- %s (order %s)\n' "$NAME" "$ORDER_ID" >> FEATURES.md
fleet-agent result "Added feature '$NAME' with a test (features/$NAME.sh, tests/test_$NAME.sh)"
