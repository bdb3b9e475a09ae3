#!/bin/sh
# The intake keeps going through faults (tests/README, "Faults"): messages
# naming missing objects, an S3 outage, a held GET, keys with dot
# segments. Each case asserts that every expected alert arrives exactly
# once and that a canary sent after the fault arrives too; /healthz tells
# the truth meanwhile. S3 is reached through tests/s3proxy.py.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-intake-trail work
proxy_up
receiver_up --key "hook-secret-$$"
VISIBILITY=5s write_config
daemon_up

# ---- 1. missing objects never stop the queue --------------------------------
# Four notifications name objects that do not exist, then a good one: the
# good one is delivered at once (it once waited for a success that never
# came).
publish_names miss1 miss2 miss3 miss4
trail good1 1
publish_names good1
wait_until 20 has_alert good1-000001
t_ok $? "missing objects: a good notification behind four bad ones is delivered"
like "$(log_lines 'cannot be processed')" "object_missing" \
    "missing objects: logged as object_missing, left to the redrive policy"

# Thirty more that fail, then the objects appear: every message comes back
# after its visibility timeout and all 90 alerts arrive, once each.
names=$(seq 1 30 | sed 's/^/late/')
# shellcheck disable=SC2086
publish_names $names
wait_until 30 at_least 34 log_lines 'cannot be processed'
for n in $names; do trail "$n" 3; done
for n in miss1 miss2 miss3 miss4; do trail "$n" 2; done
want=$({ expect_alerts good1 1 miss1 2 miss2 2 miss3 2 miss4 2
	for n in $names; do expect_alerts "$n" 3; done; } | sort)
wait_received "$(printf '%s\n' "$want" | wc -l)" 60
is "$(received_sorted)" "$want" "missing objects: all 99 alerts once the objects exist"
is "$(dups)" "" "missing objects: none twice"
canary canary1
t_ok $? "missing objects: a canary sent afterwards arrives"

# ---- 2. an S3 outage: 503 to every GET for 30 s -----------------------------
setmode 503
names=$(seq 1 30 | sed 's/^/out/')
for n in $names; do trail "$n" 3; done
# shellcheck disable=SC2086
publish_names $names
wait_log "GetObject failed: HTTP 503" 20
t_ok $? "outage: a bare 503 is logged as 'HTTP 503'"
wait_until 25 healthz_is 503
t_ok $? "outage: /healthz turns 503 while S3 is down"
like "$HZ_BODY" "messages failing for [0-9]+ s and none completed" \
    "outage: /healthz says why"
like "$(log_lines 'nothing deleted; it comes back')" "object_fetch" \
    "outage: transient, the messages are left for redelivery"
sleep 10
want=$({ received; for n in $names; do expect_alerts "$n" 3; done; } | sort)
setmode pass
wait_received "$(printf '%s\n' "$want" | wc -l)" 60
is "$(received_sorted)" "$want" "outage: all 90 alerts once S3 is back"
is "$(dups)" "" "outage: none twice"
wait_until 10 healthz_is 200
t_ok $? "outage: /healthz is 200 again ($(echo "$HZ_BODY" | tr "\n" " "))"
canary canary2
t_ok $? "outage: a canary sent afterwards arrives"

# ---- 3. a GET held past the bound -------------------------------------------
setmode "hold held1"
trail held1 2
publish_names held1
wait_until 25 healthz_is 503
t_ok $? "held GET: /healthz turns 503 once a message is in work too long"
like "$HZ_BODY" "message .* in work for [0-9]+ s" "held GET: /healthz says which"
setmode pass
wait_until 20 has_alert held1-000002
t_ok $? "held GET: its alerts arrive once the GET is answered"
wait_until 10 healthz_is 200
t_ok $? "held GET: /healthz is 200 again"

# ---- 4. keys as written ------------------------------------------------------
# moto keeps "dots/../k1.json.gz" as a key of its own and checks the
# signature over the path as sent: the alert arrives only if the path
# went out as signed.
"$PY" "$TOP_SRCDIR/tests/mktrail.py" "$T_TMP/k1.json.gz" --events 1 --id-prefix k1 \
    --secret-prefix k1 || bail mktrail
moto put "$M" "$BUCKET" "$KEYP/dots/../k1.json.gz" "$T_TMP/k1.json.gz" >/dev/null || bail put
moto publish-keys "$M" "$SMTRAIL_TOPIC_ARN" "$BUCKET" "$KEYP/dots/../k1.json.gz" || bail publish
wait_until 20 has_alert k1-000001
t_ok $? "dot segments: 'dots/../k1.json.gz' is fetched as written"
like "$(jq -r .path "$P/requests.jsonl")" "^/$BUCKET/$KEYP/dots/\.\./k1\.json\.gz\$" \
    "dot segments: the path sent is the path signed"
# "../other/x.json.gz" in an allowed bucket names a key of that bucket,
# never the object x.json.gz of the bucket "other".
moto mb "$M" smtrail-intake-other >/dev/null || bail mb
"$PY" "$TOP_SRCDIR/tests/mktrail.py" "$T_TMP/o1.json.gz" --events 1 --id-prefix o1 \
    --secret-prefix o1 || bail mktrail
moto put "$M" smtrail-intake-other x.json.gz "$T_TMP/o1.json.gz" >/dev/null || bail put
moto publish-keys "$M" "$SMTRAIL_TOPIC_ARN" "$BUCKET" "../smtrail-intake-other/x.json.gz" ||
    bail publish
wait_log "GetObject failed: NoSuchKey.*\.\./smtrail-intake-other/x\.json\.gz" 20
t_ok $? "dot segments: '../other/x' is a missing key of the allowed bucket"
like "$(jq -r .path "$P/requests.jsonl")" "^/$BUCKET/\.\./smtrail-intake-other/x\.json\.gz\$" \
    "dot segments: requested from the allowed bucket, as written"
unlike "$(received)" "o1-000001" "dot segments: nothing from the other bucket"

# ---- 5. an oversized and an over-deep record do not stop the file ----------
"$PY" - "$SMTRAIL_SHARED_DATA" "$T_TMP/big.json" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1] + "/cloudtrail/secretsmanager/aws-docs_secretsmanager.json"))
tmpl = [r for r in recs["Records"] if r["eventName"] == "DeleteSecret"][0]
def sm(i):
    r = dict(tmpl, eventID="big-%06d" % i, readOnly=False, responseElements={
        "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:big-%d" % i})
    r.pop("errorCode", None)
    return json.dumps(r)
big = '{"eventSource":"ec2.amazonaws.com","pad":"%s"}' % ("x" * (5 << 20))
deep = '{"eventSource":"secretsmanager.amazonaws.com","d":' + "[" * 600 + "]" * 600 + "}"
open(sys.argv[2], "w").write('{"Records":[%s]}' % ",".join([sm(1), big, sm(2), deep, sm(3)]))
EOF
gzip -n "$T_TMP/big.json"
moto put "$M" "$BUCKET" "$KEYP/big.json.gz" "$T_TMP/big.json.gz" >/dev/null || bail put
publish_names big
wait_until 30 has_alert big-000003
t_ok $? "oversized records: the alerts after a 5 MiB and a 600-deep record arrive"
# (The template is the AWS docs' DeleteSecret of 2018: its deletion
# reminders are long due too; only the deletions are counted here.)
is "$(received | grep '^secret-deleted big-' | sort)" "$(expect_alerts big 3)" \
    "oversized records: all three, once"
like "$(log_lines 'skipped')" \
    "2 record\(s\) skipped, unread \(first: record at byte [0-9]+ skipped: over 4194304 bytes\).*key=.*big.json.gz" \
    "oversized records: logged with the offset"
is "$(metric smtrail_records_skipped_total)" 2 "oversized records: counted"

canary canary3
t_ok $? "a canary after everything arrives"
is "$(dups)" "" "no alert was delivered twice"
unlike "$(cat "$T_TMP/daemon.log")" "hook-secret-$$" "the HMAC key is never logged"

# ---- 6. a queue that does not exist: the hint names the region --------------
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
sed -i "s|queue_url: \"[^\"]*\"|queue_url: \"${SMTRAIL_QUEUE_URL%/*}/no-such-queue\"|" \
    "$T_TMP/smtrail.yaml"
: >"$T_TMP/daemon.log"
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" --log-level info run \
    >>"$T_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_log "ReceiveMessage failed" 30
like "$(log_lines 'ReceiveMessage failed')" \
    "QueueDoesNotExist.*check sqs.queue_url and the region, requests go to http" \
    "wrong queue: the log names the endpoint and the region to check"
done_testing
