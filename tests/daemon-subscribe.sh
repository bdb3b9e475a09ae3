#!/bin/sh
# SNS subscription confirmations (smtrail.yaml(5), sns.confirm_subscriptions):
# SubscriptionConfirmation bodies, signed with a key of our own (the
# receiver serves its certificate and plays SNS's ConfirmSubscription at
# /confirm), go into moto's queue. Off: the notice line shows the topic and
# the SubscribeURL, nothing is fetched. On: a listed topic is confirmed
# with exactly one GET carrying its token; an unlisted topic, a URL outside
# sns.subscribe_url_pattern and a badly signed body are never fetched; a
# 500 leaves the message for redelivery and it is confirmed later. Every
# confirmation message ends deleted (the badly signed one at
# sqs.max_receive_count).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-subscribe-trail work
mkdir -p "$R/www"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_TMP/sns.key" -out "$R/www/sns.pem" \
    -days 3650 -subj "/CN=sns.test" >/dev/null 2>&1 || bail "openssl req"
receiver_up --key "hook-secret-$$"
OURS=arn:aws:sns:us-east-1:123456789012:trail-topic
THEIRS=arn:aws:sns:us-east-1:999999999999:someone-elses-topic
CONFIRM="http://127.0.0.1:$RCV_PORT/confirm"

# confirmation TYPE TOPIC TOKEN [URL [TAMPER]]: a signed (v2) SNS
# (Un)SubscriptionConfirmation whose SubscribeURL confirms TOPIC with TOKEN
# at the receiver (or URL); TAMPER changes the token after signing.
N_MSG=0
confirmation() {
	N_MSG=$((N_MSG + 1))
	id=$(printf '00000000-0000-4000-8000-%012d' "$N_MSG")
	ts=2026-12-07T09:10:00.000Z
	url=${4:-$CONFIRM?Action=ConfirmSubscription&TopicArn=$2&Token=$3}
	msg="You have chosen to subscribe to the topic $2.
To confirm the subscription, visit the SubscribeURL included in this message."
	printf 'Message\n%s\nMessageId\n%s\nSubscribeURL\n%s\nTimestamp\n%s\nToken\n%s\nTopicArn\n%s\nType\n%s\n' \
	    "$msg" "$id" "$url" "$ts" "$3" "$2" "$1" >"$T_TMP/sts"
	sig=$(openssl dgst -sha256 -sign "$T_TMP/sns.key" "$T_TMP/sts" | base64 -w0)
	[ -n "${5:-}" ] && url=$(printf '%s' "$url" | sed 's/Token=.*/Token=forged/')
	jq -n --arg type "$1" --arg m "$msg" --arg id "$id" --arg ts "$ts" --arg arn "$2" \
	    --arg tok "$3" --arg url "$url" --arg sig "$sig" \
	    --arg cert "http://127.0.0.1:$RCV_PORT/sns.pem" \
	    '{Type: $type, MessageId: $id, Token: $tok, TopicArn: $arn, Message: $m,
	      SubscribeURL: $url, Timestamp: $ts, SignatureVersion: "2",
	      Signature: $sig, SigningCertURL: $cert}' >"$T_TMP/conf.json"
	send_body "$T_TMP/conf.json"
}

# confirms: the GETs of /confirm the receiver saw, one "status path" a line.
confirms() {
	[ -f "$R/gets.jsonl" ] || return 0
	jq -r 'select(.path | startswith("/confirm")) | "\(.status) \(.path)"' "$R/gets.jsonl"
}
n_confirms() { confirms | wc -l | tr -d ' '; }
n_retry() { confirms | grep -c "Token=tok-retry-0009"; }
deleted() { log_lines "message deleted" | wc -l | tr -d ' '; }

VERIFY=true CERT_PATTERN='^http://127\.0\.0\.1:[0-9]+/sns\.pem$' VISIBILITY=4s \
    TOPICS=$OURS METRICS_PORT=0 write_config
daemon_up

# ---- 1. off (the default): logged at notice, never fetched -----------------
confirmation SubscriptionConfirmation "$OURS" tok-off-0001
wait_log "not confirmed: sns.confirm_subscriptions is off" 20
t_ok $? "off: the confirmation is logged as not confirmed, saying why"
line=$(log_lines "SNS SubscriptionConfirmation for topic")
like "$line" "notice" "off: at notice level"
like "$line" "topic '$OURS'" "off: the line names the topic"
like "$line" "SubscribeURL '$CONFIRM\?Action=ConfirmSubscription&TopicArn=$OURS&Token=tok-off-0001'" \
    "off: the line holds the whole SubscribeURL"
wait_until 30 at_least 1 deleted
is "$(deleted)" 1 "off: the message is deleted"
is "$(n_confirms)" 0 "off: the SubscribeURL was never fetched"
is "$(metric 'smtrail_sns_subscriptions_total{result="logged"}')" 1 "off: metric logged"
daemon_stop TERM

# ---- 2. on: only listed topics, only URLs inside the pattern ----------------
: >"$T_TMP/daemon.log"
VERIFY=true CERT_PATTERN='^http://127\.0\.0\.1:[0-9]+/sns\.pem$' VISIBILITY=4s \
    MAX_RECEIVE=2 TOPICS=$OURS SNS_EXTRA="confirm_subscriptions: true, subscribe_url_pattern: '^http://127\\.0\\.0\\.1:$RCV_PORT/confirm\\?'" \
    write_config
daemon_up
confirmation SubscriptionConfirmation "$OURS" tok-ours-0002
wait_log "SNS subscription to topic '$OURS' confirmed" 20
t_ok $? "on: a listed topic is confirmed"
is "$(confirms)" "200 /confirm?Action=ConfirmSubscription&TopicArn=$OURS&Token=tok-ours-0002" \
    "on: the receiver saw exactly one GET, with the token"

confirmation SubscriptionConfirmation "$THEIRS" tok-theirs-0003
wait_log "not confirmed: the topic is not in sns.topic_arns" 20
t_ok $? "on: an unlisted topic is not confirmed, saying why"
like "$(log_lines "SubscriptionConfirmation for topic '$THEIRS'")" "Token=tok-theirs-0003" \
    "on: an unlisted topic's SubscribeURL is logged all the same"

confirmation SubscriptionConfirmation "$OURS" tok-outside-0004 \
    "http://127.0.0.1:$RCV_PORT/other?Action=ConfirmSubscription&TopicArn=$OURS&Token=tok-outside-0004"
wait_log "not confirmed: SubscribeURL does not match sns.subscribe_url_pattern" 20
t_ok $? "on: a URL outside the pattern is not confirmed"
confirmation SubscriptionConfirmation "$OURS" tok-action-0005 \
    "$CONFIRM?Action=Unsubscribe&TopicArn=$OURS&Token=tok-action-0005"
wait_log "not confirmed: SubscribeURL's Action is 'Unsubscribe'" 20
t_ok $? "on: a URL whose Action is not ConfirmSubscription is not confirmed"
confirmation SubscriptionConfirmation "$OURS" tok-mixed-0006 \
    "$CONFIRM?Action=ConfirmSubscription&TopicArn=$THEIRS&Token=tok-mixed-0006"
wait_log "not confirmed: SubscribeURL's TopicArn .* is not the message's TopicArn" 20
t_ok $? "on: a URL confirming another topic is not confirmed"
confirmation SubscriptionConfirmation "$OURS" tok-tampered-0007 "" tamper
wait_log "SNS signature check failed" 20
t_ok $? "on: a tampered confirmation fails its signature check"
unlike "$(log_lines 'SubscriptionConfirmation for topic')" "forged" \
    "on: nothing of a badly signed confirmation is logged at notice"
confirmation UnsubscribeConfirmation "$OURS" tok-unsub-0008
wait_log "SNS UnsubscribeConfirmation: the subscription to topic '$OURS' was deleted" 20
t_ok $? "UnsubscribeConfirmation: logged at notice"
like "$(log_lines 'UnsubscribeConfirmation')" "notice.*Token=tok-unsub-0008" \
    "UnsubscribeConfirmation: with its SubscribeURL"
# The badly signed one is permanent: at its second receive (max_receive_count
# 2) it is logged in full and deleted too.
wait_until 30 at_least 7 deleted
is "$(deleted)" 7 "on: every one is deleted (the badly signed one at the cut-off)"
is "$(log_lines 'giving up after 2 receives' | grep -c 'bad_signature')" 1 \
    "on: the badly signed one was given up on, as bad_signature"
is "$(confirms)" "200 /confirm?Action=ConfirmSubscription&TopicArn=$OURS&Token=tok-ours-0002" \
    "on: still only the one GET"

# ---- 3. the receiver answers 500: retried, then confirmed -------------------
echo 500 >"$R/confirm-status"
confirmation SubscriptionConfirmation "$OURS" tok-retry-0009
wait_log "not confirmed: the ConfirmSubscription GET answered HTTP 500" 20
t_ok $? "500: logged"
like "$(log_lines 'nothing deleted; it comes back')" "sns_confirm" \
    "500: transient, the message is left for redelivery"
wait_until 20 at_least 2 n_retry
echo 200 >"$R/confirm-status"
wait_until 30 at_least 2 log_lines "topic '$OURS' confirmed"
t_ok $? "500: confirmed once the receiver answers 200"
retries=$(confirms | grep -c "Token=tok-retry-0009")
t_ok "$([ "$retries" -ge 2 ] && echo 0 || echo 1)" "500: the GET was retried ($retries GETs)"
is "$(confirms | grep "Token=tok-retry-0009" | tail -1 | cut -d' ' -f1)" 200 \
    "500: the last GET succeeded"
wait_queue_empty 20
is "$(queue_counts)" "visible=0 inflight=0" "the queue drains"

is "$(metric 'smtrail_sns_subscriptions_total{result="confirmed"}')" 2 "metric: confirmed"
is "$(metric 'smtrail_sns_subscriptions_total{result="refused"}')" 4 "metric: refused"
t_ok "$([ "$(metric 'smtrail_sns_subscriptions_total{result="failed"}')" -ge 1 ] && echo 0 || echo 1)" \
    "metric: failed"
is "$(metric 'smtrail_sns_subscriptions_total{result="logged"}')" 0 "metric: logged (this run)"
is "$(metric 'smtrail_messages_failed_total{reason="bad_signature"}')" 2 \
    "metric: the tampered one, at both receives"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"

# ---- 4. on, with no topic_arns: never confirmed, and check says why ---------
: >"$T_TMP/daemon.log"
VERIFY=true CERT_PATTERN='^http://127\.0\.0\.1:[0-9]+/sns\.pem$' VISIBILITY=4s \
    SNS_EXTRA="confirm_subscriptions: true, subscribe_url_pattern: '^http://127\\.0\\.0\\.1:$RCV_PORT/confirm\\?'" \
    write_config
out=$("$SMTRAIL" --config "$T_TMP/smtrail.yaml" check 2>&1)
like "$out" "warning: .*smtrail.yaml:[0-9]+:[0-9]+: 'confirm_subscriptions' confirms only topics in 'topic_arns', and there are none" \
    "check: warns that nothing will be confirmed"
like "$out" "sns.confirm_subscriptions: true \(no topic_arns: none confirmed\)" \
    "check: the summary says so"
daemon_up
confirmation SubscriptionConfirmation "$OURS" tok-nolist-0010
wait_log "not confirmed: sns.topic_arns is empty" 20
t_ok $? "no topic_arns: not confirmed, saying why"
is "$(confirms | grep -c 'tok-nolist-0010')" 0 "no topic_arns: never fetched"
daemon_stop TERM
done_testing
