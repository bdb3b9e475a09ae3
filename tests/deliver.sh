#!/bin/sh
# smtrail test-destination and replay --deliver against a real receiver.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
R="$T_TMP/rcv"
t_start "$R" "$PY" "$TOP_SRCDIR/tests/receiver.py" "$R" --script 200
P=$T_PORT
t_start "$T_TMP/r404" "$PY" "$TOP_SRCDIR/tests/receiver.py" "$T_TMP/r404" --script 404
P404=$T_PORT
cat >"$T_TMP/c.yaml" <<YAML
default_destinations: [hook]
destinations:
  hook: {type: webhook, url: "http://127.0.0.1:$P/hook?token=s3cr3t-token"}
  gone: {type: webhook, url: "http://127.0.0.1:$P404/hook?token=s3cr3t-token"}
YAML
st -c "$T_TMP/c.yaml" test-destination hook
is "$RC" 0 "test-destination: exit 0 when delivered"
is "$OUT" "hook (webhook): delivered (HTTP 200)" "test-destination: says so"
is "$(jq -r '.body | "\(.rule) \(.test) \(.severity)"' "$R/received.jsonl")" \
    "smtrail-test true info" "the receiver got a clearly marked test alert"
like "$(jq -r '.body.summary' "$R/received.jsonl")" "^TEST: " "its summary starts with TEST"
st -c "$T_TMP/c.yaml" test-destination gone
is "$RC" 1 "test-destination: exit 1 on HTTP 404"
is "$OUT" "gone (webhook): failed (HTTP 404)" "and reports the HTTP outcome"
st -c "$T_TMP/c.yaml" test-destination nope
is "$RC" 2 "test-destination: an unknown name is a usage error"
unlike "$OUT$ERR" "s3cr3t-token" "no URL secret printed"

: >"$R/received.jsonl"
st -c "$T_TMP/c.yaml" -r "$TOP_SRCDIR/etc/smtrail/rules.yaml" replay --deliver "$TOP_SRCDIR/tests/data/demo"
is "$RC" 0 "replay --deliver: exit 0"
is "$(printf '%s\n' "$OUT" | wc -l)" 7 "replay --deliver still prints the alerts"
like "$ERR" "deliveries: 7 delivered, 0 failed" "and counts the deliveries"
is "$(jq -r '.body | "\(.rule) \(.eventID)"' "$R/received.jsonl" | sort)" \
"replication-added demo-0007-0000-4000-8000-000000000000
resource-policy-changed demo-0005-0000-4000-8000-000000000000
resource-policy-public demo-0005-0000-4000-8000-000000000000
rotation-failed demo-0004-0000-4000-8000-000000000000
secret-deleted demo-0006-0000-4000-8000-000000000000
secret-read-denied demo-0002-0000-4000-8000-000000000000
secret-tags-changed demo-0008-0000-4000-8000-000000000000" \
    "the receiver got the replayed file's alerts"
is "$(jq -r '.body.record.eventID == .body.eventID' "$R/received.jsonl" | sort -u)" true \
    "with their records"
sed -i 's/default_destinations: \[hook\]/default_destinations: [gone]/' "$T_TMP/c.yaml"
st -c "$T_TMP/c.yaml" -r "$TOP_SRCDIR/etc/smtrail/rules.yaml" replay --deliver "$TOP_SRCDIR/tests/data/demo"
is "$RC" 1 "replay --deliver: exit 1 when deliveries fail"
like "$ERR" "deliveries: 0 delivered, 7 failed" "and says how many"
done_testing
