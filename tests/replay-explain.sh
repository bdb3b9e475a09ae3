#!/bin/sh
# smtrail replay --explain RULE (smtrail(8)): one line per Secrets Manager
# event, whether the rule matched and, if not, the first condition that
# failed (rules file:line:col) with the value found; for a match, what the
# rule's state did. Exact lines on crafted events (tests/mkrec.py) and on
# the shared CloudTrail sample; an unknown rule is a usage error with the
# closest id; values are escaped.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
SM="$DATA/cloudtrail/secretsmanager"
need "$SM/combined_secretsmanager.json" "$TOP_SRCDIR/etc/smtrail/rules.yaml"
mk() { "$PY" "$TOP_SRCDIR/tests/mkrec.py" "$@"; }

R="$T_TMP/rules.yaml"
cat >"$R" <<'YAML'
rules:
  - id: force-delete
    match:
      eventName: DeleteSecret
      requestParameters.forceDeleteWithoutRecovery: true
  - id: denied-reads
    match: {eventName: GetSecretValue, errorCode: {exists: true}}
    group_by: [principal]
    threshold: {count: 2, within: 10m}
  - id: cli-only
    match:
      userAgent: {prefix: aws-cli/}
  - id: off
    enabled: false
    match: {eventName: DeleteSecret}
YAML
mk "$T_TMP/ev.json" \
    "n=DeleteSecret,id=d1,s=prod/db,fd=false,t=09:00:00" \
    "n=DeleteSecret,id=d2,s=prod/db,t=09:01:00" \
    "n=DeleteSecret,id=d3,s=prod/db,fd=true,t=09:02:00" \
    "n=GetSecretValue,id=g1,s=prod/db,e=AccessDenied,t=09:03:00" \
    "n=GetSecretValue,id=g2,s=prod/db,e=AccessDenied,t=09:04:00" \
    "n=GetSecretValue,id=g3,s=prod/db,t=09:05:00"

# 1. An event rule: the first failing condition, its position, the value.
st replay -r "$R" --explain force-delete "$T_TMP/ev.json"
is "$RC" 0 "force-delete: exit 0"
is "$OUT" "d1 2026-11-25T09:00:00Z DeleteSecret: no match: $R:5:53: requestParameters.forceDeleteWithoutRecovery: want true, got false
d2 2026-11-25T09:01:00Z DeleteSecret: no match: $R:5:53: requestParameters.forceDeleteWithoutRecovery: field absent
d3 2026-11-25T09:02:00Z DeleteSecret: match
g1 2026-11-25T09:03:00Z GetSecretValue: no match: $R:4:18: eventName: want 'DeleteSecret', got 'GetSecretValue'
g2 2026-11-25T09:04:00Z GetSecretValue: no match: $R:4:18: eventName: want 'DeleteSecret', got 'GetSecretValue'
g3 2026-11-25T09:05:00Z GetSecretValue: no match: $R:4:18: eventName: want 'DeleteSecret', got 'GetSecretValue'" \
    "force-delete: one line per event, exactly"
is "$ERR" "" "force-delete: nothing on stderr"

# 2. A threshold rule: counted, then fired; no alert lines printed.
st replay -r "$R" --explain denied-reads "$T_TMP/ev.json"
is "$RC" 0 "denied-reads: exit 0"
is "$(printf '%s\n' "$OUT" | grep '^g')" "g1 2026-11-25T09:03:00Z GetSecretValue: match (threshold: counted)
g2 2026-11-25T09:04:00Z GetSecretValue: match (threshold: fired)
g3 2026-11-25T09:05:00Z GetSecretValue: no match: $R:7:51: errorCode: field absent" \
    "denied-reads: counted, fired, then the absent errorCode"
unlike "$OUT" '^\{' "denied-reads: no alert JSON among the explanations"
st replay -r "$R" --no-state --explain denied-reads "$T_TMP/ev.json"
is "$(printf '%s\n' "$OUT" | grep '^g[12]')" "g1 2026-11-25T09:03:00Z GetSecretValue: match
g2 2026-11-25T09:04:00Z GetSecretValue: match" "--no-state: a match is a match"

# 3. A disabled rule: said once on stderr; its matches alert never.
st replay -r "$R" --explain off "$T_TMP/ev.json"
is "$RC" 0 "off: exit 0"
is "$ERR" "smtrail: warning: rule 'off' is disabled: it never alerts" "off: the warning"
is "$(printf '%s\n' "$OUT" | sed -n 1p)" \
    "d1 2026-11-25T09:00:00Z DeleteSecret: match (disabled: no alert)" "off: a match, no alert"

# 4. Usage errors: an unknown rule names the closest id; --deliver.
st replay -r "$R" --explain force-delet "$T_TMP/ev.json"
is "$RC" 2 "unknown rule: exit 2"
is "$ERR" "smtrail: --explain: no rule 'force-delet' in $R (did you mean 'force-delete'?)" \
    "unknown rule: did you mean"
is "$OUT" "" "unknown rule: nothing printed"
st replay -r "$R" --explain zzz "$T_TMP/ev.json"
is "$RC:$ERR" "2:smtrail: --explain: no rule 'zzz' in $R" "nothing close: no suggestion"
st replay -r "$R" --deliver --explain force-delete "$T_TMP/ev.json"
is "$RC:$ERR" "2:smtrail: --explain does not deliver (--deliver given)" "--deliver refused"

# 5. Hostile values: control characters and quotes escaped, long ones cut.
long=$(printf 'x%.0s' $(seq 1 300))
mk "$T_TMP/hostile.json" \
    "n=GetSecretValue,id=h1,ua=$(printf 'evil\033[2J\tx')'q" \
    "n=GetSecretValue,id=h2,ua=$long"
st replay -r "$R" --explain cli-only "$T_TMP/hostile.json"
is "$OUT" "h1 2026-11-25T09:00:00Z GetSecretValue: no match: $R:12:18: userAgent: want prefix 'aws-cli/', got 'evil\\x1b[2J\\x09x\\x27q'
h2 2026-11-25T09:00:00Z GetSecretValue: no match: $R:12:18: userAgent: want prefix 'aws-cli/', got '$(printf 'x%.0s' $(seq 1 120))...'" \
    "hostile values: escaped, cut at 120 bytes"

# 6. The other kinds and words: expect's follow-up, resolve_on, distinct,
# first_seen; a derived field the caller attaches (accountAlias) is read
# as the engine read it.
cat >"$T_TMP/kinds.yaml" <<'YAML'
rules:
  - id: stuck
    match: {eventName: RotationStarted}
    expect: {match: {eventName: RotationSucceeded}, within: 1h}
  - id: denied
    match: {eventName: GetSecretValue, errorCode: {exists: true}}
    resolve_on: {eventName: GetSecretValue, errorCode: null}
  - id: many
    match: {eventName: GetSecretValue}
    group_by: [principal]
    distinct: {field: secretId, count: 2, within: 1h}
  - id: new-reader
    match: {eventName: GetSecretValue}
    group_by: [principal]
    first_seen: {learn: 1h}
  - id: prod-delete
    match: {eventName: DeleteSecret, accountAlias: prod}
YAML
cat >"$T_TMP/alias.yaml" <<'YAML'
accounts:
  "123456789012": prod
YAML
mk "$T_TMP/kinds.json" \
    "n=RotationStarted,id=k1,s=a,t=09:00:00" \
    "n=RotationSucceeded,id=k2,s=a,t=09:10:00" \
    "n=GetSecretValue,id=k3,s=a,p=ann,e=AccessDenied,t=09:11:00" \
    "n=GetSecretValue,id=k4,s=b,p=ann,t=09:12:00" \
    "n=DeleteSecret,id=k5,s=a,t=11:00:00" \
    "n=DeleteSecret,id=k6,s=a,a=999999999999,t=11:01:00" \
    "n=GetSecretValue,id=k7,s=a,p=zed,t=11:02:00"
kind() { st -c "$T_TMP/alias.yaml" replay -r "$T_TMP/kinds.yaml" --explain "$1" "$T_TMP/kinds.json"; }
kind stuck
is "$(printf '%s\n' "$OUT" | sed -n 1,3p)" "k1 2026-11-25T09:00:00Z RotationStarted: match (expect: waiting for expect.match)
k2 2026-11-25T09:10:00Z RotationSucceeded: no match: $T_TMP/kinds.yaml:3:24: eventName: want 'RotationStarted', got 'RotationSucceeded' (but expect.match: met)
k3 2026-11-25T09:11:00Z GetSecretValue: no match: $T_TMP/kinds.yaml:3:24: eventName: want 'RotationStarted', got 'GetSecretValue'" \
    "expect: waiting, then the follow-up"
kind denied
is "$(printf '%s\n' "$OUT" | sed -n 3,4p)" "k3 2026-11-25T09:11:00Z GetSecretValue: match
k4 2026-11-25T09:12:00Z GetSecretValue: no match: $T_TMP/kinds.yaml:6:51: errorCode: field absent (but resolve_on: matched)" \
    "resolve_on: the resolve said"
kind many
is "$(printf '%s\n' "$OUT" | grep -E '^k[347]')" "k3 2026-11-25T09:11:00Z GetSecretValue: match (distinct: counted)
k4 2026-11-25T09:12:00Z GetSecretValue: match (distinct: fired)
k7 2026-11-25T11:02:00Z GetSecretValue: match (distinct: counted)" \
    "distinct: counted, fired"
kind new-reader
is "$(printf '%s\n' "$OUT" | grep -E '^k[347]')" "k3 2026-11-25T09:11:00Z GetSecretValue: match (first_seen: learning, or seen before)
k4 2026-11-25T09:12:00Z GetSecretValue: match (first_seen: learning, or seen before)
k7 2026-11-25T11:02:00Z GetSecretValue: match (first_seen: fired)" \
    "first_seen: learning, then a new key fired"
kind prod-delete
is "$(printf '%s\n' "$OUT" | grep -E '^k[56]')" "k5 2026-11-25T11:00:00Z DeleteSecret: match
k6 2026-11-25T11:01:00Z DeleteSecret: no match: $T_TMP/kinds.yaml:17:52: accountAlias: field absent" \
    "accountAlias: read as the engine read it"

# 7. The default pack over the shared sample: one line per Secrets Manager
# event (52), the one DeleteSecret shown with its absent flag.
P="$TOP_SRCDIR/etc/smtrail/rules.yaml"
st replay -r "$P" --explain secret-force-deleted "$SM/combined_secretsmanager.json"
is "$RC" 0 "sample: exit 0"
is "$(printf '%s\n' "$OUT" | wc -l)" 52 "sample: 52 lines, one per event"
line=$(grep -n 'forceDeleteWithoutRecovery: true' "$P" | cut -d: -f1)
is "$(printf '%s\n' "$OUT" | grep -v "want 'DeleteSecret'")" \
    "EXAMPLE3-90ab-cdef-fedc-ba987EXAMPLE 2018-04-03T17:51:02Z DeleteSecret: no match: $P:$line:53: requestParameters.forceDeleteWithoutRecovery: field absent" \
    "sample: the DeleteSecret without the flag"
is "$(printf '%s\n' "$OUT" | sed -n 1p)" \
    "61619dbf-c10b-471e-9d78-8199a2f8233a 2024-07-31T12:29:17Z BatchGetSecretValue: no match: $P:$((line - 2)):18: eventName: want 'DeleteSecret', got 'BatchGetSecretValue'" \
    "sample: the first event"
st replay -r "$P" --explain secret-read-denied "$SM/combined_secretsmanager.json"
is "$(printf '%s\n' "$OUT" | grep -c ': match')" \
    "$(jq '[.Records[] | select((.eventName == "GetSecretValue" or .eventName == "BatchGetSecretValue") and ((.errorCode // "") | contains("AccessDenied")))] | length' "$SM/combined_secretsmanager.json")" \
    "sample: secret-read-denied matches exactly what jq finds"
done_testing
