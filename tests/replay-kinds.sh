#!/bin/sh
# Rules over time through `replay` (smtrail-rules(5), "KINDS"): threshold,
# distinct, first_seen and expect, each driven by crafted sequences, in
# order and out of order, late within and beyond the tolerance, across a
# restart (--state) and across a rule that changed or kept its definition;
# the alerts' count, events, values and readers; the default pack over the
# shared CloudTrail samples.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
mk() { "$PY" "$TOP_SRCDIR/tests/mkrec.py" "$@"; }
# got: "rule eventID [count] [events]" per printed alert.
got() {
	printf '%s\n' "$OUT" | jq -r '[.rule, .eventID, (.count // empty | tostring),
	    (.events // empty | join("+"))] | join(" ")'
}

cat >"$T_TMP/kinds.yaml" <<'YAML'
rules:
  - id: thr
    match: {eventName: GetSecretValue, errorCode: {exists: true}}
    group_by: [principal]
    threshold: {count: 3, within: 10m}
  - id: dst
    match: {eventName: GetSecretValue, errorCode: null}
    group_by: [principal]
    distinct: {field: secretId, count: 3, within: 10m}
  - id: new
    match: {eventName: ListSecrets}
    group_by: [principal]
    first_seen: {learn: 1h}
  - id: stuck
    match: {eventName: RotationStarted}
    expect: {match: {eventName: [RotationSucceeded, RotationFailed]}, within: 1h}
YAML
st check --strict --rules-only -r "$T_TMP/kinds.yaml"
is "$RC" 0 "check --strict: the four kinds are valid"

# ---- 1. threshold ----------------------------------------------------------------
mk "$T_TMP/thr.json" \
    "n=GetSecretValue,id=a1,p=ann,s=x,e=AccessDenied,t=09:00:00" \
    "n=GetSecretValue,id=a2,p=ann,s=x,e=AccessDenied,t=09:04:00" \
    "n=GetSecretValue,id=z1,p=zed,s=x,e=AccessDenied,t=09:04:30" \
    "n=GetSecretValue,id=a3,p=ann,s=x,e=AccessDenied,t=09:09:59" \
    "n=GetSecretValue,id=a4,p=ann,s=x,e=AccessDenied,t=09:10:00" \
    "n=GetSecretValue,id=a5,p=ann,s=x,e=AccessDenied,t=09:11:00" \
    "n=GetSecretValue,id=b1,p=bob,s=x,e=AccessDenied,t=09:05:00" \
    "n=GetSecretValue,id=b3,p=bob,s=x,e=AccessDenied,t=09:07:00" \
    "n=GetSecretValue,id=b2,p=bob,s=x,e=AccessDenied,t=09:06:00" \
    "n=GetSecretValue,id=a6,p=ann,s=x,e=AccessDenied,t=09:30:00" \
    "n=GetSecretValue,id=a7,p=ann,s=x,e=AccessDenied,t=09:40:00" \
    "n=GetSecretValue,id=a8,p=ann,s=x,e=AccessDenied,t=09:50:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/thr.json"
is "$RC" 0 "threshold: exit 0"
is "$(got)" "thr a3 3 a1+a2+a3
thr b2 3 b1+b2+b3" \
    "threshold: 3 within 10m per principal fires once, afresh after; out of order too"

# The same file twice: every event is counted once.
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/thr.json" "$T_TMP/thr.json"
is "$(got)" "thr a3 3 a1+a2+a3
thr b2 3 b1+b2+b3" "threshold: a file delivered twice is counted once"

# Late events: once the watermark is at 10:00, a match counts while its
# window is open (eventTime + within > 10:00 - late, 09:45): one at 09:40
# (20 min late, beyond the 15 min tolerance) still does, ones at 09:3x no.
mk "$T_TMP/late.json" \
    "n=GetSecretValue,id=l1,p=lee,s=x,e=AccessDenied,t=09:41:00" \
    "n=GetSecretValue,id=l2,p=lee,s=x,e=AccessDenied,t=09:42:00" \
    "n=ListSecrets,id=w1,p=wm,t=10:00:00" \
    "n=GetSecretValue,id=l3,p=lee,s=x,e=AccessDenied,t=09:40:00" \
    "n=GetSecretValue,id=m1,p=mo,s=x,e=AccessDenied,t=09:30:00" \
    "n=GetSecretValue,id=m2,p=mo,s=x,e=AccessDenied,t=09:31:00" \
    "n=GetSecretValue,id=m3,p=mo,s=x,e=AccessDenied,t=09:32:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/late.json"
is "$(got | grep '^thr')" "thr l3 3 l3+l1+l2" \
    "threshold: a late event counts while its window is open; beyond it, not (mo: 28 min late)"

# ---- 2. distinct -----------------------------------------------------------------
mk "$T_TMP/dst.json" \
    "n=GetSecretValue,id=d1,p=dan,s=s1,t=09:00:00" \
    "n=GetSecretValue,id=d2,p=dan,s=s1,t=09:01:00" \
    "n=GetSecretValue,id=d3,p=dan,s=s2,t=09:02:00" \
    "n=GetSecretValue,id=e1,p=eve,s=s1,t=09:02:00" \
    "n=GetSecretValue,id=d4,p=dan,s=s3,t=09:03:00" \
    "n=GetSecretValue,id=d5,p=dan,s=s4,t=09:04:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/dst.json"
is "$(got)" "dst d4 3 d2+d3+d4" "distinct: 3 secrets by one principal; each value at its latest read"
is "$(printf '%s\n' "$OUT" | jq -c '.values')" '["s1","s2","s3"]' "distinct: the alert lists the values"

# ---- 3. first_seen ---------------------------------------------------------------
mk "$T_TMP/new.json" \
    "n=ListSecrets,id=f1,p=p1,t=09:00:00" \
    "n=ListSecrets,id=f2,p=p2,t=09:30:00" \
    "n=ListSecrets,id=f3,p=p3,t=10:01:00" \
    "n=ListSecrets,id=f4,p=p1,t=10:05:00" \
    "n=ListSecrets,id=f5,p=p3,t=10:06:00" \
    "n=ListSecrets,id=f6,p=role:deploy,t=10:07:00" \
    "n=ListSecrets,id=f7,p=role:deploy,t=10:08:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/new.json"
is "$(got)" "new f3
new f6" "first_seen: learns for 1h, then each new principal once (a role by its ARN)"

# ---- 4. expect -------------------------------------------------------------------
mk "$T_TMP/exp.json" \
    "n=RotationStarted,id=o1,s=arn/s1,t=09:00:00" \
    "n=RotationSucceeded,id=c1,s=arn/s1,t=09:30:00" \
    "n=RotationStarted,id=o2,s=arn/s2,t=09:00:00" \
    "n=RotationSucceeded,id=c3,s=arn/s3,t=09:20:00" \
    "n=RotationStarted,id=o3,s=arn/s3,t=09:10:00" \
    "n=RotationStarted,id=o4,s=arn/s4,t=09:00:00" \
    "n=RotationFailed,id=c4,s=arn/s4,t=10:30:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/exp.json"
is "$(got | sort)" "stuck o2
stuck o4" "expect: met, follow-up first (out of order): quiet; none, or too late: the opening alert"
# Late within the tolerance: the watermark at 10:10 (deadline 10:00 + 15m
# not reached) lets a 09:50 follow-up close; at 10:20 it is overdue first.
mk "$T_TMP/exp-late.json" \
    "n=RotationStarted,id=o5,s=arn/s5,t=09:00:00" \
    "n=ListSecrets,id=w2,p=wm,t=10:10:00" \
    "n=RotationSucceeded,id=c5,s=arn/s5,t=09:50:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/exp-late.json"
is "$(got)" "" "expect: a follow-up late within the tolerance still closes it"
mk "$T_TMP/exp-beyond.json" \
    "n=RotationStarted,id=o6,s=arn/s6,t=09:00:00" \
    "n=ListSecrets,id=w3,p=wm,t=10:20:00" \
    "n=RotationSucceeded,id=c6,s=arn/s6,t=09:50:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/exp-beyond.json"
is "$(got)" "stuck o6" "expect: beyond the tolerance the expectation fired first"
# Nothing after the opening: at the end of the input it is not yet due.
mk "$T_TMP/exp-open.json" "n=RotationStarted,id=o7,s=arn/s7,t=09:00:00" \
    "n=ListSecrets,id=w4,p=wm,t=09:50:00"
st replay -r "$T_TMP/kinds.yaml" "$T_TMP/exp-open.json"
is "$(got)" "" "expect: the input ends before the deadline: nothing yet"

# ---- 5. across a restart (--state) and a changed rule ----------------------------
S="$T_TMP/state"
mk "$T_TMP/r1.json" \
    "n=GetSecretValue,id=r1,p=rae,s=x,e=AccessDenied,t=09:00:00" \
    "n=GetSecretValue,id=r2,p=rae,s=x,e=AccessDenied,t=09:01:00" \
    "n=ListSecrets,id=n1,p=q1,t=09:00:00" \
    "n=RotationStarted,id=o8,s=arn/s8,t=09:00:00" \
    "n=RotationStarted,id=o9,s=arn/s9,t=09:00:00"
mk "$T_TMP/r2.json" \
    "n=GetSecretValue,id=r3,p=rae,s=x,e=AccessDenied,t=09:02:00" \
    "n=RotationSucceeded,id=c8,s=arn/s8,t=09:40:00" \
    "n=ListSecrets,id=n2,p=q1,t=10:30:00" \
    "n=ListSecrets,id=n3,p=q2,t=10:31:00"
st replay --state "$S" -r "$T_TMP/kinds.yaml" "$T_TMP/r1.json"
is "$(got)" "" "restart: the first part alerts nothing"
st replay --state "$S" -r "$T_TMP/kinds.yaml" "$T_TMP/r2.json"
is "$(got)" "thr r3 3 r1+r2+r3
stuck o9
new n3" "restart: windows, learned keys and expectations go on from the state (o9 due at n2's 10:30)"
st replay --state "$S" -r "$T_TMP/kinds.yaml" "$T_TMP/r2.json"
is "$(got)" "" "restart: the second part again: nothing twice"

# A changed rule starts afresh; an unchanged one (comments, spacing) keeps on.
sed 's/count: 3, within: 10m/count: 3, within: 11m/' "$T_TMP/kinds.yaml" >"$T_TMP/changed.yaml"
{ echo "# a comment"; sed 's/^    threshold: {count: 3, within: 10m}/    threshold:\
      count: 3   # the same, in block style\
      within: 10m/' "$T_TMP/kinds.yaml"; } >"$T_TMP/same.yaml"
for v in changed same; do
	rm -rf "$T_TMP/st-$v"
	st replay --state "$T_TMP/st-$v" -r "$T_TMP/kinds.yaml" "$T_TMP/r1.json"
	st replay --state "$T_TMP/st-$v" -r "$T_TMP/$v.yaml" "$T_TMP/r2.json"
	eval "got_$v=\"\$(got | grep '^thr' || true)\""
done
is "$got_changed" "" "a changed rule starts afresh (2 + 1 is not 3)"
is "$got_same" "thr r3 3 r1+r2+r3" "an unchanged rule keeps its window"

# ---- 6. readers ------------------------------------------------------------------
cat >"$T_TMP/readers.yaml" <<'YAML'
rules:
  - id: del
    match: {eventName: DeleteSecret}
    readers: true
  - id: del-plain
    match: {eventName: DeleteSecret}
YAML
mk "$T_TMP/readers.json" \
    "n=GetSecretValue,id=g1,p=u1,s=prod/db,t=09:00:00" \
    "n=GetSecretValue,id=g2,p=role:app,s=arn/db,t=09:10:00" \
    "n=GetSecretValue,id=g3,p=u1,s=prod/db,t=09:20:00" \
    "n=GetSecretValue,id=g4,p=u9,s=prod/db,t=09:30:00,e=AccessDenied" \
    "n=BatchGetSecretValue,id=g5,p=u2,b=prod/db+other,t=09:40:00" \
    "n=GetSecretValue,id=g6,p=u3,s=prod/other,t=09:50:00" \
    "n=DeleteSecret,id=x1,p=u4,s=arn/db,t=10:00:00" \
    "n=DeleteSecret,id=x2,p=u4,s=prod/nobody,t=10:00:00"
st replay -r "$T_TMP/readers.yaml" "$T_TMP/readers.json"
is "$(printf '%s\n' "$OUT" | jq -c 'select(.rule == "del") | [.eventID, .readers]')" \
    '["x1",[{"principal":"arn:aws:iam::123456789012:user/u2","lastRead":"2026-11-25T09:40:00Z"},{"principal":"arn:aws:iam::123456789012:user/u1","lastRead":"2026-11-25T09:20:00Z"},{"principal":"arn:aws:iam::123456789012:role/app","lastRead":"2026-11-25T09:10:00Z"}]]
["x2",[]]' "readers: newest first, by name or ARN alike, refused reads not counted"
is "$(printf '%s\n' "$OUT" | jq -c 'select(.rule == "del-plain") | has("readers")' | sort -u)" \
    "false" "readers: only for rules that ask"

# ---- 7. account aliases -----------------------------------------------------------
cat >"$T_TMP/alias.yaml" <<'YAML'
accounts:
  "123456789012": prod
YAML
cat >"$T_TMP/alias-rules.yaml" <<'YAML'
rules:
  - id: prod-delete
    match: {eventName: DeleteSecret, accountAlias: prod}
YAML
mk "$T_TMP/alias.json" "n=DeleteSecret,id=p1,s=x" "n=DeleteSecret,id=p2,s=x,a=999999999999"
st -c "$T_TMP/alias.yaml" replay -r "$T_TMP/alias-rules.yaml" "$T_TMP/alias.json"
is "$(printf '%s\n' "$OUT" | jq -c '[.eventID, .accountAlias]')" '["p1","prod"]' \
    "accounts: the alias matches in a rule and is in the alert; another account has none"

# ---- 8. the default pack over the shared samples ---------------------------------
D="$SMTRAIL_SHARED_DATA/cloudtrail"
need "$D/secretsmanager/combined_secretsmanager.json" "$D/corpus/combined/all-sources.json.gz"
PACK="$TOP_SRCDIR/etc/smtrail/rules.yaml"
st check --strict --rules-only -r "$PACK"
is "$RC" 0 "the default pack passes check --strict"
st replay -r "$PACK" "$D/secretsmanager/stratus-red-team_secretsmanager.json"
is "$(printf '%s\n' "$OUT" | jq -r '"\(.rule) \(.principal) \(.count // "")"' | sort)" \
    "secret-batch-reads arn:aws:iam::165109126369:user/christophe 5
secret-mass-read arn:aws:iam::903144391865:user/christophe 20" \
    "default pack: both Stratus Red Team Secrets Manager techniques alert"
st replay -r "$PACK" "$D/corpus/combined/all-sources.json.gz"
printf '%s\n' "$OUT" | jq -r '"\(.rule) \(.eventName) \(.eventID)"' | sort >"$T_TMP/reviewed"
is "$(cat "$T_TMP/reviewed")" "$(grep -v "^#" "$TOP_SRCDIR/tests/data/default-pack-reviewed.txt")" \
    "default pack over all 814 sample records: the reviewed set"

done_testing
