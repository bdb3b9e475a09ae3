#!/bin/sh
# The main job end to end, against moto with signature checking on and a
# real HTTP receiver: CloudTrail log in S3, notification through SNS into
# SQS, `smtrail run`, alerts at the webhook. Then: the queue is empty, the
# same notification again pages nobody, SIGHUP with broken rules keeps
# alerting, SIGTERM exits 0 promptly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-e2e-trail work
receiver_up --key "hook-secret-$$"
cp "$TOP_SRCDIR/etc/smtrail/rules.yaml" "$T_TMP/rules.yaml"
RULES="$T_TMP/rules.yaml" write_config
moto put "$M" "$BUCKET" "$DEMO_KEY" "$DEMO_FILE" >/dev/null || bail "put"
daemon_up
t_ok 0 "daemon started and is receiving"
like "$(cat "$T_TMP/daemon.log")" "ready: receiving from .* with credentials from environment" \
    "the log names the credential provider"

# aws-check: what an operator types first. Its S3 checks go through
# tests/s3proxy.py --keys: moto refuses any correct signature over a
# ListObjectsV2 query holding '/' (see s3proxy.py).
printf '%s %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T_TMP/keys"
t_start "$P" "$PY" "$TOP_SRCDIR/tests/s3proxy.py" "$P" --upstream "$MOTO_ENDPOINT" \
    --keys "$T_TMP/keys" 2>"$T_TMP/proxy.err" || bail "s3proxy start"
AWS_ENDPOINT_URL_S3="http://127.0.0.1:$T_PORT"
export AWS_ENDPOINT_URL_S3
st --config "$T_TMP/smtrail.yaml" aws-check
is "$RC" 0 "aws-check: exit 0 against the queue and the bucket"
like "$OUT" "^ok   s3:GetObject on arn:aws:s3:::$BUCKET/$DEMO_KEY " "aws-check: the log file read"
like "$OUT" "^credentials: from environment \(key AKIA\.\.\., long-term\)$" \
    "aws-check: the provider, not the secret"
like "$OUT" "^queue: arn:aws:sqs:us-east-1:123456789012:work$" "aws-check: the queue's ARN"
like "$OUT" "^region: us-east-1$" "aws-check: the region"
unlike "$OUT$ERR" "$AWS_SECRET_ACCESS_KEY" "aws-check: no secret printed"
good_secret=$AWS_SECRET_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=wrong-secret
st --config "$T_TMP/smtrail.yaml" aws-check
AWS_SECRET_ACCESS_KEY=$good_secret
is "$RC" 1 "aws-check with a wrong secret: exit 1"
unset AWS_ENDPOINT_URL_S3
like "$OUT" "^FAIL sqs:GetQueueAttributes on arn:aws:sqs:us-east-1:123456789012:work: SignatureDoesNotMatch" \
    "and says why"
like "$OUT" "; the credentials were refused: check the access key, its secret" "with a hint"

publish "$DEMO_KEY"
wait_received $DEMO_N 30
is "$(received | sort)" "$DEMO_ALERTS" "exactly the expected alerts arrive"
is "$(jq -r 'select(.status < 300) | .sig_ok' "$R/received.jsonl" | sort -u)" true \
    "every POST carries a valid X-Smtrail-Signature"
is "$(jq -r 'select(.status < 300) | .body.record.eventID == .body.eventID' "$R/received.jsonl" | sort -u)" \
    true "each alert carries its raw CloudTrail record"
is "$(jq -r 'select(.status < 300) | .body | keys_unsorted[0:14] | join(",")' "$R/received.jsonl" | sort -u)" \
    "rule,title,severity,summary,eventID,eventName,eventTime,awsRegion,recipientAccountId,secretId,principal,sourceIPAddress,errorCode,group" \
    "webhook body: the alert exactly as replay prints it, then the record"
wait_queue_empty 15
is "$(queue_counts)" "visible=0 inflight=0" "the queue is empty afterwards"
is "$(metric smtrail_messages_deleted_total)" 1 "metrics: one message deleted"
is "$(metric smtrail_alerts_delivered_total'{destination="hook"}')" $DEMO_N \
    "metrics: every alert delivered to hook"

# The same notification again: received, scanned, deduplicated, deleted.
publish "$DEMO_KEY"
wait_log "duplicate alert" 20
sleep 2
is "$(received | wc -l)" $DEMO_N "the same notification again delivers nothing new"
is "$(metric smtrail_alerts_deduplicated_total)" $DEMO_N "metrics: every one a duplicate"
wait_queue_empty 15
is "$(queue_counts)" "visible=0 inflight=0" "and its message is deleted too"

# SIGHUP with a broken rules file: logged, the old rules keep alerting.
printf 'rules:\n  - id: broken\n    match: {eventName: {regexp: x}}\n' >"$T_TMP/rules.yaml"
kill -HUP "$DAEMON_PID"
wait_log "reload failed, keeping" 10
t_ok $? "SIGHUP with a broken rules file: the reload is refused"
like "$(cat "$T_TMP/daemon.log")" "rules.yaml:3:[0-9]+: unknown operator 'regexp'" \
    "and the log says where"
jq -c '.Records[0].eventID = "after-reload-1" | .Records[0].eventName = "DeleteSecret"
    | .Records[0].errorCode = null | .Records[0].readOnly = false
    | .Records[0].responseElements = {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbC"}
    | {Records: [.Records[0]]}' \
    "$SMTRAIL_SHARED_DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json" |
    gzip -c >"$T_TMP/after.json.gz"
moto put "$M" "$BUCKET" "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/after.json.gz" \
    "$T_TMP/after.json.gz" >/dev/null
publish "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/after.json.gz"
wait_received $((DEMO_N + 1)) 30
like "$(received)" "^secret-deleted after-reload-1$" "the old rules are still alerting"

# A good reload takes effect.
cp "$TOP_SRCDIR/etc/smtrail/rules.yaml" "$T_TMP/rules.yaml"
kill -HUP "$DAEMON_PID"
wait_log "reloaded: [0-9]+ rules" 10
t_ok $? "SIGHUP with a good file reloads"

# SIGTERM: exits 0, promptly, in the middle of a long poll.
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
ok_fast=1
[ "$STOP_SECS" -le 5 ] && ok_fast=0
t_ok $ok_fast "SIGTERM: stopped within 5 s (${STOP_SECS}s)"
unlike "$(cat "$T_TMP/daemon.log")" "hook-secret|127.0.0.1:$RCV_PORT/hook" \
    "the webhook URL and HMAC key never reach the log"
done_testing
