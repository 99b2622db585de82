#!/bin/sh
# Demo test agent: adds a test script that checks every shell script in the repository parses.
. /opt/fleet/agents/common.sh
step 30 "writing a test"
mkdir -p tests
cat > "tests/test_syntax_$SHORT_ID.sh" <<'EOS'
#!/bin/sh
# Every shell script in the repository must parse.
status=0
for f in $(find . -name '*.sh' -not -path './.git/*'); do
  sh -n "$f" || { echo "syntax error in $f"; status=1; }
done
exit $status
EOS
step 70 "running it"
sh "tests/test_syntax_$SHORT_ID.sh"
fleet-agent result "Added tests/test_syntax_$SHORT_ID.sh; it passes"
