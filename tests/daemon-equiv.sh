#!/bin/sh
# One engine: the same events through the daemon (moto, SNS, SQS, S3, a
# webhook) and through `smtrail replay` give the same alerts: rule,
# eventID, status, count and suppressed, throttle, group_wait and
# resolve_on included, windows in event time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-equiv-trail work
receiver_up --key "hook-secret-$$"
ARN_A="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
ARN_B="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-XyZ123"
"$PY" - "$SMTRAIL_SHARED_DATA" "$T_TMP/seq.json" "$ARN_A" "$ARN_B" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1] + "/cloudtrail/secretsmanager/aws-docs_secretsmanager.json"))
tmpl = [r for r in recs["Records"] if r["eventName"] == "RotationFailed"][0]
a, b = sys.argv[3], sys.argv[4]
seq = [("RotationFailed", "e01", a, "09:00:00"), ("RotationFailed", "e02", a, "09:10:00"),
       ("RotationFailed", "e03", b, "09:11:00"), ("RotationFailed", "e04", a, "09:20:00"),
       ("RotationAbandoned", "e05", b, "09:30:00"), ("RotationAbandoned", "e06", b, "09:30:02"),
       ("RotationAbandoned", "e07", b, "09:30:04"), ("RotationSucceeded", "e08", a, "09:40:00"),
       ("RotationFailed", "e09", a, "09:50:00"), ("RotationAbandoned", "e10", b, "09:55:00"),
       ("RotationFailed", "e01", a, "09:00:00")]  # a repeat of the first: a duplicate
out = [dict(tmpl, eventName=n, eventID=i, awsRegion="us-east-1",
            eventTime="2026-11-25T%sZ" % t, additionalEventData={"SecretId": s})
       for n, i, s, t in seq]
json.dump({"Records": out}, open(sys.argv[2], "w"))
EOF
cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: failed
    match: {eventName: RotationFailed}
    throttle: 15m
    resolve_on: {eventName: RotationSucceeded}
  - id: abandoned
    match: {eventName: RotationAbandoned}
    group_wait: 5s
YAML
RULES="$T_TMP/rules.yaml" write_config
tuple='"\(.rule) \(.eventID) \(.status // "firing") \(.count // 1) \(.suppressed // 0)"'

st --config "$T_TMP/smtrail.yaml" replay "$T_TMP/seq.json"
is "$RC" 0 "replay: exit 0"
printf '%s\n' "$OUT" | jq -r "$tuple" | sort >"$T_TMP/replayed"
is "$(cat "$T_TMP/replayed")" "abandoned e05 firing 3 0
abandoned e10 firing 1 0
failed e01 firing 1 0
failed e03 firing 1 0
failed e04 firing 1 1
failed e08 resolved 1 0
failed e09 firing 1 0" "replay: throttled, grouped, resolved, deduplicated"

gzip -c "$T_TMP/seq.json" >"$T_TMP/seq.json.gz"
moto put "$M" "$BUCKET" "$KEYP/seq.json.gz" "$T_TMP/seq.json.gz" >/dev/null || bail put
daemon_up
publish "$KEYP/seq.json.gz"
wait_received 7 40
sleep 2
jq -r "select(.status < 300) | .body | $tuple" "$R/received.jsonl" | sort >"$T_TMP/delivered"
is "$(cat "$T_TMP/delivered")" "$(cat "$T_TMP/replayed")" \
    "the daemon delivered exactly what replay printed"
done_testing
