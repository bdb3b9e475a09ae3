#!/bin/sh
# Faults, each with its documented outcome (smtrail(8)):
#  - the receiver answers 500, 500, then 200: delivered once, after retries;
#  - 429 with Retry-After: 2: the retry waits at least 2 s;
#  - S3 object missing, truncated gzip, SNS signature wrong, another
#    topic's envelope, bucket not allowed: logged with the reason and counted; the message is left for
#    redelivery and, at max_receive_count (2 here), logged in full and
#    deleted. Nothing is lost and the queue drains.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-faults-trail work
KEYP="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25"
one_record() { # one_record EVENTID FILE: a gzipped log with one DeleteSecret
	jq -c --arg id "$1" '.Records[0].eventID = $id | .Records[0].eventName = "DeleteSecret"
	    | .Records[0].errorCode = null | .Records[0].readOnly = false
	    | .Records[0].responseElements = {"arn": ("arn:aws:secretsmanager:us-east-1:123456789012:secret:" + $id)}
	    | {Records: [.Records[0]]}' \
	    "$SMTRAIL_SHARED_DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json" | gzip -c >"$2"
}
one_record fault-retry "$T_TMP/retry.json.gz"
one_record fault-429 "$T_TMP/r429.json.gz"
one_record fault-signed "$T_TMP/signed.json.gz"
moto put "$M" "$BUCKET" "$KEYP/retry.json.gz" "$T_TMP/retry.json.gz" >/dev/null || bail put
moto put "$M" "$BUCKET" "$KEYP/r429.json.gz" "$T_TMP/r429.json.gz" >/dev/null || bail put
moto put "$M" "$BUCKET" "$KEYP/signed.json.gz" "$T_TMP/signed.json.gz" >/dev/null || bail put
head -c 300 "$T_TMP/retry.json.gz" >"$T_TMP/cut.json.gz"
moto put "$M" "$BUCKET" "$KEYP/cut.json.gz" "$T_TMP/cut.json.gz" >/dev/null || bail put

# A signing key and certificate of our own, served by the receiver, and a
# pattern that allows only that URL: SNS verification runs for real.
mkdir -p "$R/www"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_TMP/sns.key" -out "$R/www/sns.pem" \
    -days 3650 -subj "/CN=sns.test" >/dev/null 2>&1 || bail "openssl req"
receiver_up --script 500,500,200 --key "hook-secret-$$"
sns_envelope() { # sns_envelope MESSAGE-FILE TAMPER: an SNS Notification, signed v2
	msg=$(cat "$1")
	ts=2026-11-25T09:10:00.000Z
	id=00000000-0000-4000-8000-00000000000$2
	arn=arn:aws:sns:us-east-1:123456789012:trail-topic
	[ "$2" = 2 ] && arn=arn:aws:sns:us-east-1:999999999999:someone-elses-topic
	printf 'Message\n%s\nMessageId\n%s\nTimestamp\n%s\nTopicArn\n%s\nType\nNotification\n' \
	    "$msg" "$id" "$ts" "$arn" >"$T_TMP/sts"
	sig=$(openssl dgst -sha256 -sign "$T_TMP/sns.key" "$T_TMP/sts" | base64 -w0)
	[ "$2" = 1 ] && msg=$(printf '%s' "$msg" | sed 's/signed/tampered/')
	jq -n --arg m "$msg" --arg id "$id" --arg ts "$ts" --arg arn "$arn" --arg sig "$sig" \
	    --arg url "http://127.0.0.1:$RCV_PORT/sns.pem" \
	    '{Type: "Notification", MessageId: $id, TopicArn: $arn, Message: $m,
	      Timestamp: $ts, SignatureVersion: "2", Signature: $sig, SigningCertURL: $url}'
}
VERIFY=true CERT_PATTERN='^http://127\.0\.0\.1:[0-9]+/sns\.pem$' MAX_RECEIVE=2 VISIBILITY=2s \
    TOPICS=arn:aws:sns:us-east-1:123456789012:trail-topic \
    DEADLINE=5m write_config
daemon_up

# 500, 500, 200
moto cloudtrail-message "$BUCKET" "$KEYP/retry.json.gz" >"$T_TMP/m-retry"
send_body "$T_TMP/m-retry"
wait_received 1 40
is "$(jq -r '.status' "$R/received.jsonl" | tr '\n' ' ')" "500 500 200 " \
    "500, 500, then 200: three attempts"
is "$(received)" "secret-deleted fault-retry" "delivered once"
like "$(cat "$T_TMP/daemon.log")" "delivery to 'hook' failed \(HTTP 500\), retrying in" \
    "the retries are logged"

# 429 with Retry-After
receiver_up --script 429,200 --retry-after 2 --key "hook-secret-$$"
: >"$R/received.jsonl"
sed -i "s|127.0.0.1:[0-9]*/hook|127.0.0.1:$RCV_PORT/hook|" "$T_TMP/smtrail.yaml"
kill -HUP "$DAEMON_PID"
wait_log "reloaded" 10 || bail "reload"
moto cloudtrail-message "$BUCKET" "$KEYP/r429.json.gz" >"$T_TMP/m-429"
send_body "$T_TMP/m-429"
wait_received 1 30
is "$(received)" "secret-deleted fault-429" "429: delivered after the retry"
gap=$(jq -s '.[1].t - .[0].t' "$R/received.jsonl")
awk -v g="${gap:-0}" 'BEGIN { exit !(g >= 2) }'
t_ok $? "429: the retry waited for Retry-After (2 s; waited ${gap} s)"

# Signed SNS: a good signature passes, a tampered message does not.
moto cloudtrail-message "$BUCKET" "$KEYP/signed.json.gz" >"$T_TMP/m-signed"
sns_envelope "$T_TMP/m-signed" 0 >"$T_TMP/sns-good"
sns_envelope "$T_TMP/m-signed" 1 >"$T_TMP/sns-bad"
send_body "$T_TMP/sns-good"
wait_received 2 30
like "$(received)" "^secret-deleted fault-signed$" "SNS signature good: alert delivered"
send_body "$T_TMP/sns-bad"
wait_log "SNS signature check failed" 20
t_ok $? "SNS signature wrong: refused"
sns_envelope "$T_TMP/m-signed" 2 >"$T_TMP/sns-other"
send_body "$T_TMP/sns-other"
wait_log "SNS topic not in sns.topic_arns" 20
t_ok $? "a validly signed envelope from another topic: refused"

# Object missing, truncated gzip, bucket not allowed.
moto cloudtrail-message "$BUCKET" "$KEYP/missing.json.gz" >"$T_TMP/m-missing"
send_body "$T_TMP/m-missing"
moto cloudtrail-message "$BUCKET" "$KEYP/cut.json.gz" >"$T_TMP/m-cut"
send_body "$T_TMP/m-cut"
moto cloudtrail-message "someone-elses-bucket" "$KEYP/x.json.gz" >"$T_TMP/m-bucket"
send_body "$T_TMP/m-bucket"
wait_log "GetObject failed: NoSuchKey" 20
t_ok $? "object missing: GetObject's NoSuchKey is logged"
wait_log "object unreadable: .*gzip" 20
t_ok $? "truncated gzip: logged as unreadable"
wait_log "bucket 'someone-elses-bucket' is not in s3.allowed_buckets" 20
t_ok $? "bucket not allowed: refused without fetching"
like "$(grep 'leaving it to the queue' "$T_TMP/daemon.log" | head -1)" "msg=" \
    "a failed message is logged with its MessageId"
# At the second receive each failed message is given up on, in full.
wait_until 40 at_least 5 log_lines 'giving up after 2 receives'
is "$(grep -c 'giving up after 2 receives' "$T_TMP/daemon.log")" 5 \
    "max_receive_count 2: the five bad messages are logged in full and deleted"
wait_queue_empty 15
is "$(queue_counts)" "visible=0 inflight=0" "the queue drains"
is "$(metric smtrail_objects_failed_total'{reason="object_missing"}')" 2 "metric: object_missing"
is "$(metric smtrail_objects_failed_total'{reason="object_malformed"}')" 2 "metric: object_malformed"
is "$(metric smtrail_messages_failed_total'{reason="bucket_not_allowed"}')" 2 "metric: bucket_not_allowed"
is "$(metric smtrail_messages_failed_total'{reason="bad_signature"}')" 2 "metric: bad_signature"
is "$(metric smtrail_messages_failed_total'{reason="topic_not_allowed"}')" 2 "metric: topic_not_allowed"
kill -0 "$DAEMON_PID"
t_ok $? "no crash"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
