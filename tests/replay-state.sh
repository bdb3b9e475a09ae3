#!/bin/sh
# replay shows what run would have sent: one engine, event time. Throttle,
# group_wait and resolve_on apply; resolves are printed; duplicates are
# not; --state continues an earlier replay; --no-state gives the raw
# matches; --deliver sends PagerDuty triggers and the resolve with the
# same dedup_key, and Slack the resolved message.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
ARN_A="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
ARN_B="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-XyZ123"

# log FILE NAME|ID|SECRET|HH:MM:SS...: a log file of those events (from
# the shared RotationFailed sample), in that order.
log() {
	_out=$1
	shift
	"$PY" - "$SMTRAIL_SHARED_DATA" "$_out" "$@" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1] + "/cloudtrail/secretsmanager/aws-docs_secretsmanager.json"))
tmpl = [r for r in recs["Records"] if r["eventName"] == "RotationFailed"][0]
out = []
for spec in sys.argv[3:]:
    name, eid, secret, t = spec.split("|")
    r = dict(tmpl, eventName=name, eventID=eid, awsRegion="us-east-1",
             eventTime="2026-11-25T%sZ" % t, additionalEventData={"SecretId": secret})
    out.append(r)
json.dump({"Records": out}, open(sys.argv[2], "w"))
EOF
}
# got: "rule eventID status count suppressed" per printed alert.
got() { printf '%s\n' "$OUT" | jq -r '"\(.rule) \(.eventID) \(.status // "firing") \(.count // 1) \(.suppressed // 0)"'; }
RULES="$TOP_SRCDIR/etc/smtrail/rules.yaml"

# ---- 1. resolve_on: two failures, one success --------------------------------
log "$T_TMP/rot.json" "RotationFailed|r1|$ARN_A|09:00:00" "RotationFailed|r2|$ARN_B|09:00:10" \
    "RotationSucceeded|r3|$ARN_A|09:05:00"
st replay -r "$RULES" "$T_TMP/rot.json"
is "$RC" 0 "resolve: exit 0"
is "$(got)" "rotation-failed r1 firing 1 0
rotation-failed r2 firing 1 0
rotation-failed r3 resolved 1 0" "resolve: two alerts, then the resolve"
is "$(printf '%s\n' "$OUT" | jq -r 'select(.status == "resolved") | .group')" "$ARN_A" \
    "resolve: it carries the first one's group"
st replay --no-state -r "$RULES" "$T_TMP/rot.json"
is "$(got)" "rotation-failed r1 firing 1 0
rotation-failed r2 firing 1 0" "--no-state: the raw matches, no resolve"

# ---- 2. throttle and group_wait in event time ----------------------------------
cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: thr
    match: {eventName: RotationFailed}
    throttle: 30m
  - id: grp
    match: {eventName: RotationAbandoned}
    group_wait: 60s
YAML
log "$T_TMP/win.json" "RotationFailed|t1|$ARN_A|09:00:00" "RotationFailed|t2|$ARN_A|09:10:00" \
    "RotationFailed|t3|$ARN_A|09:20:00" "RotationFailed|t4|$ARN_A|09:45:00" \
    "RotationAbandoned|g1|$ARN_B|10:00:00" "RotationAbandoned|g2|$ARN_B|10:00:20" \
    "RotationAbandoned|g3|$ARN_B|10:00:50" "RotationAbandoned|g4|$ARN_B|10:05:00"
st replay -r "$T_TMP/rules.yaml" "$T_TMP/win.json"
is "$(got)" "thr t1 firing 1 0
thr t4 firing 1 2
grp g1 firing 3 0
grp g4 firing 1 0" "windows in event time: 2 throttled, 3 grouped, the late one alone"
is "$(printf '%s\n' "$OUT" | jq -c 'select(.rule == "thr" and .suppressed) | [.suppressed_since, .eventID]')" \
    '["2026-11-25T09:10:00Z","t4"]' "throttle: suppressed since the first throttled event"
is "$(printf '%s\n' "$OUT" | jq -c 'select(.count > 1) | .events')" '["g1","g2","g3"]' \
    "group: its events"

# ---- 3. duplicates, and state that goes on -------------------------------------
st replay -r "$RULES" "$T_TMP/rot.json" "$T_TMP/rot.json"
is "$(got)" "rotation-failed r1 firing 1 0
rotation-failed r2 firing 1 0
rotation-failed r3 resolved 1 0" "the same events twice: alerted once"
log "$T_TMP/fail.json" "RotationFailed|s1|$ARN_A|09:00:00"
log "$T_TMP/ok.json" "RotationSucceeded|s2|$ARN_A|09:30:00"
st replay --state "$T_TMP/state" -r "$RULES" "$T_TMP/fail.json"
is "$(got)" "rotation-failed s1 firing 1 0" "--state: the first replay"
st replay --state "$T_TMP/state" -r "$RULES" "$T_TMP/ok.json"
is "$(got)" "rotation-failed s2 resolved 1 0" "--state: a second one goes on from it"
st replay --state "$T_TMP/state" -r "$RULES" "$T_TMP/fail.json"
is "$OUT" "" "--state: what was alerted is not alerted again"
# (In a TMPDIR of its own: other tests run replays alongside.)
mkdir -p "$T_TMP/tmpdir"
TMPDIR="$T_TMP/tmpdir" st replay -r "$RULES" "$T_TMP/ok.json"
is "$OUT" "" "without --state: nothing to resolve"
test -d "$T_TMP/state" && ls "$T_TMP/state" | sort | tr '\n' ' ' >"$T_TMP/ls"
is "$(cat "$T_TMP/ls")" "incidents.journal spool.journal state.journal " "--state keeps the spool, the incidents and the windows"
is "$(ls -A "$T_TMP/tmpdir")" "" "the temporary state is removed"

# ---- 4. --deliver: PagerDuty and Slack -----------------------------------------
R="$T_TMP/rcv"
t_start "$R" "$PY" "$TOP_SRCDIR/tests/receiver.py" "$R"
PORT=$T_PORT
cat >"$T_TMP/smtrail.yaml" <<YAML
default_destinations: [pd, slack]
destinations:
  pd: {type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdefabcdef, url: 'http://127.0.0.1:$PORT/v2/enqueue'}
  slack: {type: slack, url: 'http://127.0.0.1:$PORT/services/T0/B0/SLACKSECRET'}
YAML
st --config "$T_TMP/smtrail.yaml" replay --deliver -r "$RULES" "$T_TMP/rot.json"
is "$RC" 0 "--deliver: exit 0"
like "$ERR" "deliveries: 6 delivered, 0 failed" "--deliver: six deliveries"
pd() { jq -c 'select(.body.routing_key != null) | .body' "$R/received.jsonl"; }
is "$(pd | jq -r '.event_action' | sort | tr '\n' ' ')" "resolve trigger trigger " \
    "PagerDuty: two triggers and one resolve"
is "$(pd | jq -r 'select(.event_action == "resolve") | .dedup_key')" \
    "$(pd | jq -r 'select(.event_action == "trigger" and .payload.component == "'"$ARN_A"'") | .dedup_key')" \
    "PagerDuty: the resolve has the trigger's dedup_key"
like "$(jq -r 'select(.body.blocks != null) | .body.blocks[0].text.text' "$R/received.jsonl")" \
    "Resolved: Secret rotation failed" "Slack: the resolved message"
unlike "$ERR" "SLACKSECRET|R0UT1NGKEY" "no secret on stderr"
done_testing
