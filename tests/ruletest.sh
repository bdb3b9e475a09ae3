#!/bin/sh
# smtrail test (smtrail-test(5)): the default pack passes its shipped tests,
# every rule of it has a firing case and a near miss, a broken rule fails
# them with a readable diff, and mistakes in a test file are reported as
# file:line:col with exit 2.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
PACK=$TOP_SRCDIR/etc/smtrail/rules.yaml
TESTS=$TOP_SRCDIR/etc/smtrail/rules.test.yaml
need "$PACK" "$TESTS"

# ---- 1. the shipped tests pass -----------------------------------------------
st test "$TESTS"
is "$RC" 0 "rules.test.yaml: exit 0"
is "$ERR" "" "rules.test.yaml: nothing on stderr"
n=$(printf '%s\n' "$OUT" | grep -c '^ok ')
is "$(printf '%s\n' "$OUT" | tail -n 1)" "$n passed, 0 failed" \
    "rules.test.yaml: the summary counts every case ($n)"
is "$(printf '%s\n' "$OUT" | head -n 1)" "# $TESTS (rules $TOP_SRCDIR/etc/smtrail/rules.yaml)" \
    "rules: is resolved against the test file's directory"
unlike "$OUT" "not ok" "rules.test.yaml: no case fails"

# Every rule of the pack: a case where it fires, a near miss where it is quiet.
ids=$(sed -n 's/^  - id: //p' "$PACK")
is "$(printf '%s\n' "$ids" | wc -l | tr -d ' ')" 31 "the pack has 31 rules"
missing=
for id in $ids; do
	printf '%s\n' "$OUT" | grep -q "^ok [0-9]* - $id: fires" || missing="$missing fires:$id"
	printf '%s\n' "$OUT" | grep -q "^ok [0-9]* - $id: quiet" || missing="$missing quiet:$id"
done
is "$missing" "" "every rule has a firing case and a near miss"

# ---- 2. a broken rule fails with a readable diff -------------------------------
# secret-deleted made to match refused calls only (one match changed).
"$PY" - "$PACK" "$T_TMP/broken.yaml" <<'EOF'
import sys
s = open(sys.argv[1]).read()
i = s.index("  - id: secret-deleted\n")
j = s.index("errorCode: null\n", i)
s = s[:j] + "errorCode: {exists: true}\n" + s[j + len("errorCode: null\n"):]
open(sys.argv[2], "w").write(s)
EOF
st test --rules "$T_TMP/broken.yaml" "$TESTS"
is "$RC" 1 "broken secret-deleted: exit 1"
# num NAME-PREFIX: the number of the case of that name in $OUT.
num() { printf '%s\n' "$OUT" | sed -n "s/^\(not \)\{0,1\}ok \([0-9]*\) - $1.*/\2/p"; }
f=$(num "secret-deleted: fires on DeleteSecret")
q=$(num "secret-deleted: quiet when the delete was refused")
is "$(printf '%s\n' "$OUT" | grep -A7 "^not ok $f " | grep -v '^#     no match: ')" \
"not ok $f - secret-deleted: fires on DeleteSecret with a recovery window, resolved by RestoreSecret
# expected (-) and seen (+) alerts:
# - secret-deleted firing  (expected, not seen)
# - secret-deleted resolved  (expected, not seen)" \
    "broken secret-deleted: the firing case shows the missing alerts"
# Under each, why the rule did not match each event, as replay --explain.
is "$(printf '%s\n' "$OUT" | grep -A3 "^not ok $f " | tail -n 1 |
    sed "s|$T_TMP/broken.yaml:[0-9]*:[0-9]*:|broken.yaml:L:C:|")" \
"#     no match: case$f-event1: broken.yaml:L:C: errorCode: field absent" \
    "broken secret-deleted: the failed case says why the rule did not match (explain)"
is "$(printf '%s\n' "$OUT" | grep -A3 "^not ok $q ")" \
"not ok $q - secret-deleted: quiet when the delete was refused (write-denied instead)
# expected (-) and seen (+) alerts:
#   write-denied firing
# + secret-deleted firing count=1 event=case$q-event1 secret=prod/db  (must stay quiet)" \
    "broken secret-deleted: the near miss shows the alert that must stay quiet"
is "$(printf '%s\n' "$OUT" | tail -n 1)" "$((n - 4)) passed, 4 failed" \
    "broken secret-deleted: the summary counts the failures"

# The near miss alone catches a condition dropped: without {not: true} the
# force delete also raises secret-deleted.
grep -v 'forceDeleteWithoutRecovery: {not: true}' "$PACK" >"$T_TMP/loose.yaml"
st test -r "$T_TMP/loose.yaml" "$TESTS"
is "$RC" 1 "a dropped condition: exit 1"
q=$(num "secret-deleted: quiet on a force delete")
like "$OUT" "not ok $q - secret-deleted: quiet on a force delete" \
    "a dropped condition: the near miss fails"
like "$OUT" "# \+ secret-deleted firing count=1 event=case$q-event1 secret=prod/db  \(must stay quiet\)" \
    "a dropped condition: the diff names the alert"

# ---- 3. the format: files, offsets, counts, exact, enable ----------------------
mkdir "$T_TMP/t"
cat >"$T_TMP/t/rules.yaml" <<'EOF'
rules:
  - id: del
    match: {eventName: DeleteSecret}
  - id: thr
    match: {eventName: GetSecretValue, errorCode: {exists: true}}
    group_by: [principal]
    threshold: {count: 3, within: 10m}
  - id: off
    enabled: false
    match: {eventName: TagResource}
EOF
"$PY" "$TOP_SRCDIR/tests/mkrec.py" "$T_TMP/t/day.json.gz" \
    "n=DeleteSecret,id=f1,s=prod/a" "n=ListSecrets,id=f2"
cat >"$T_TMP/t/cases.yaml" <<'EOF'
rules: rules.yaml
defaults:
  eventSource: secretsmanager.amazonaws.com
  eventTime: "2026-11-25T09:00:00Z"
  userIdentity: {type: IAMUser, arn: "arn:aws:iam::123456789012:user/ann"}
  requestParameters: {secretId: prod/db}
cases:
  - name: from a log file
    events: [{file: day.json.gz}]
    alerts: [{rule: del, event: f1, secret: prod/a}]
  - name: three denials within 10 minutes
    events:
      - record: {eventName: GetSecretValue, errorCode: AccessDenied}
      - {at: +4m, record: {eventName: GetSecretValue, errorCode: AccessDenied}}
      - {at: +9m59s, record: {eventName: GetSecretValue, errorCode: AccessDenied, eventID: last}}
    alerts: [{rule: thr, count: 3, event: last}]
  - name: three denials over 10 minutes
    events:
      - record: {eventName: GetSecretValue, errorCode: AccessDenied}
      - {at: +4m, record: {eventName: GetSecretValue, errorCode: AccessDenied}}
      - {at: +10m1s, record: {eventName: GetSecretValue, errorCode: AccessDenied}}
    quiet: [thr]
  - name: a wrong count
    events:
      - record: {eventName: GetSecretValue, errorCode: AccessDenied}
      - {at: +1m, record: {eventName: GetSecretValue, errorCode: AccessDenied}}
      - {at: +2m, record: {eventName: GetSecretValue, errorCode: AccessDenied}}
    alerts: [{rule: thr, count: 4}]
  - name: other alerts allowed
    exact: false
    events:
      - record: {eventName: DeleteSecret}
      - record: {eventName: DeleteSecret, requestParameters: {secretId: prod/b}}
    alerts: [{rule: del, secret: prod/b}]
  - name: other alerts not allowed
    events:
      - record: {eventName: DeleteSecret}
      - record: {eventName: DeleteSecret, requestParameters: {secretId: prod/b}}
    alerts: [{rule: del, secret: prod/b}]
  - name: a disabled rule, enabled
    enable: [off]
    events: [{record: {eventName: TagResource}}]
    alerts: [off]
  - name: a disabled rule, as it is
    events: [{record: {eventName: TagResource}}]
    alerts: []
EOF
st test "$T_TMP/t/cases.yaml"
is "$RC" 1 "format: exit 1 (two cases fail on purpose)"
is "$OUT" "# $T_TMP/t/cases.yaml (rules $T_TMP/t/rules.yaml)
ok 1 - from a log file
ok 2 - three denials within 10 minutes
ok 3 - three denials over 10 minutes
not ok 4 - a wrong count
# expected (-) and seen (+) alerts:
# - thr firing count=4  (expected, not seen)
# + thr firing count=3 event=case4-event3 secret=prod/db  (not expected)
ok 5 - other alerts allowed
not ok 6 - other alerts not allowed
# expected (-) and seen (+) alerts:
#   del firing secret=prod/b
# + del firing count=1 event=case6-event1 secret=prod/db  (not expected)
ok 7 - a disabled rule, enabled
ok 8 - a disabled rule, as it is
6 passed, 2 failed" "format: files, offsets, counts, exact and enable as smtrail-test(5) says"

# Two files: numbered on, one summary; --rules wins over rules:.
st test "$T_TMP/t/cases.yaml" "$TESTS"
like "$OUT" "ok 9 - rotation-failed: fires" "two files: the numbers go on"
like "$(printf '%s\n' "$OUT" | tail -n 1)" "^$((n + 6)) passed, 2 failed$" \
    "two files: one summary"
st test -r "$PACK" "$T_TMP/t/cases.yaml"
is "$RC" 2 "--rules wins over the file's rules: (whose ids the pack lacks)"
is "$(printf '%s\n' "$ERR" | head -n 1)" "$T_TMP/t/cases.yaml:10:21: no rule 'del' in the rules" \
    "--rules: the unknown id at its place"

# A malformed log file fails its case, the others run.
printf '{"Records": [{"eventName": ' >"$T_TMP/t/cut.json"
cat >"$T_TMP/t/cut.yaml" <<'EOF'
rules: rules.yaml
cases:
  - name: a cut file
    events: [{file: cut.json}]
    alerts: []
  - name: nothing
    events: []
    alerts: []
EOF
st test "$T_TMP/t/cut.yaml"
is "$RC" 1 "a malformed log file: exit 1"
like "$OUT" "not ok 1 - a cut file
# $T_TMP/t/cut.json" "a malformed log file: the case fails, saying where"
like "$OUT" "ok 2 - nothing" "a malformed log file: the next case runs"

# ---- 4. mistakes in a test file: file:line:col, exit 2 ------------------------------
cat >"$T_TMP/t/bad.yaml" <<'EOF'
rules: rules.yaml
cases:
  - name: one
    events:
      - {at: 5x, record: {eventName: DeleteSecret, eventTime: "2026-11-25T09:00:00Z"}}
      - {file: nope.json}
      - {file: day.json.gz, at: +1m}
      - {record: {eventName: DeleteSecret}, file: day.json.gz}
    alerts: [{rule: del, status: fired, count: 0}, {status: resolved}]
    exact: maybe
    bogus: 1
  - name: two
    events:
      - {at: +1m, record: {eventName: DeleteSecret}}
  - events: []
    alerts: []
EOF
st test "$T_TMP/t/bad.yaml"
is "$RC" 2 "a bad test file: exit 2"
is "$OUT" "" "a bad test file: no case runs"
is "$ERR" "$T_TMP/t/bad.yaml:11:5: unknown case key 'bogus'
$T_TMP/t/bad.yaml:5:14: expected an offset like +30s, +5m, +2h, +1d2h (at most 365 days) for 'at'
$T_TMP/t/bad.yaml:6:16: cannot read $T_TMP/t/nope.json: No such file or directory
$T_TMP/t/bad.yaml:7:33: 'at' is for records; a file's events keep their times
$T_TMP/t/bad.yaml:8:9: an event is either 'record' or 'file'
$T_TMP/t/bad.yaml:9:34: unknown status (expected firing, triggered or resolved)
$T_TMP/t/bad.yaml:9:48: expected a positive whole number for 'count'
$T_TMP/t/bad.yaml:9:52: an expected alert needs 'rule'
$T_TMP/t/bad.yaml:10:12: expected true or false for 'exact'
$T_TMP/t/bad.yaml:14:27: the case's first record needs an eventTime (here or in 'defaults') for 'at' to count from
$T_TMP/t/bad.yaml:12:5: a case needs 'alerts' (use 'alerts: []' for none) or 'quiet'
$T_TMP/t/bad.yaml:15:5: a case needs a 'name'" "a bad test file: every mistake at its place"

cat >"$T_TMP/t/ids.yaml" <<'EOF'
rules: rules.yaml
cases:
  - name: one
    events: []
    alerts: [dell]
    quiet: [thr, nothing]
    enable: [of]
EOF
st test "$T_TMP/t/ids.yaml"
is "$RC" 2 "unknown rule ids: exit 2"
is "$ERR" "$T_TMP/t/ids.yaml:5:14: no rule 'dell' in the rules (did you mean 'del'?)
$T_TMP/t/ids.yaml:6:18: no rule 'nothing' in the rules
$T_TMP/t/ids.yaml:7:14: no rule 'of' in the rules (did you mean 'off'?)" \
    "unknown rule ids: at their place, with did you mean"

printf 'cases:\n\t- name: x\n' >"$T_TMP/t/tab.yaml"
st test -r "$T_TMP/t/rules.yaml" "$T_TMP/t/tab.yaml"
is "$RC" 2 "a YAML syntax error: exit 2"
like "$ERR" "^$T_TMP/t/tab.yaml:2:1: " "a YAML syntax error: file:line:col"

st test "$T_TMP/t/absent.yaml"
is "$RC" 2 "a missing test file: exit 2"
like "$ERR" "absent.yaml: No such file or directory" "a missing test file: said"
st test
is "$RC" 2 "no test file: usage, exit 2"

done_testing
