#!/bin/sh
# Slack and PagerDuty through the daemon, with throttle, group_wait and
# resolve_on, across a restart: one PagerDuty trigger per incident, the
# throttled match counted not sent (also after a restart), the grouped
# matches merged into one trigger, RotationSucceeded resolving with the
# same dedup_key, Slack payloads within Block Kit's limits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-incident-trail work
receiver_up
KEYP="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25"
ARN_A="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
ARN_B="arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-XyZ123"
records() { # records FILE NAME:ID:SECRET... -> a gzipped log
	out=$1
	shift
	for spec in "$@"; do
		name=${spec%%:*}
		rest=${spec#*:}
		id=${rest%%:*}
		secret=${rest#*:}
		jq -c --arg n "$name" --arg id "$id" --arg s "$secret" \
		    '.Records[0] | .eventName = $n | .eventID = $id
		    | .additionalEventData = {SecretId: $s} | .eventTime = "2026-11-25T09:00:00Z"
		    | .awsRegion = "us-east-1"' \
		    "$SMTRAIL_SHARED_DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json"
	done | jq -s -c '{Records: .}' | gzip -c >"$out"
}
cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: rotation-failed
    title: Secret rotation failed
    severity: critical
    match: {eventName: RotationFailed}
    group_by: secretId
    throttle: 1h
    resolve_on: {eventName: RotationSucceeded}
    destinations: [pd, slack]
  - id: policy-changed
    title: Resource policy changed
    severity: error
    match: {eventName: PutResourcePolicy}
    group_by: secretId
    group_wait: 3s
    destinations: [pd]
YAML
RULES="$T_TMP/rules.yaml" write_config "  pd: {type: pagerduty, routing_key: R0UT1NGKEY0123456789abcdefabcdef, url: 'http://127.0.0.1:$RCV_PORT/v2/enqueue'}
  slack: {type: slack, url: 'http://127.0.0.1:$RCV_PORT/services/T0/B0/SLACKSECRET', channel: '#ops', mention: '<!here>'}"
daemon_up

pd() { jq -c 'select(.body.routing_key != null) | .body' "$R/received.jsonl"; }
slack() { jq -c 'select(.body.blocks != null) | .body' "$R/received.jsonl"; }

# 1. Two failures of secret A: one page, the second is throttled.
records "$T_TMP/f1.json.gz" RotationFailed:f1:"$ARN_A" RotationFailed:f2:"$ARN_A"
moto put "$M" "$BUCKET" "$KEYP/f1.json.gz" "$T_TMP/f1.json.gz" >/dev/null
publish "$KEYP/f1.json.gz"
wait_log "throttled: counted, not sent" 30
t_ok $? "second failure inside the window: throttled"
wait_until 30 at_least 1 pd
wait_until 30 at_least 1 slack
sleep 1 # anything more would be a second page
is "$(pd | jq -r '"\(.event_action) \(.dedup_key) \(.payload.severity)"')" \
    "trigger rotation-failed:$ARN_A critical" "PagerDuty: one trigger, dedup_key = rule:group"
is "$(slack | wc -l)" 1 "Slack: one message"
is "$(slack | jq -r '.channel')" "#ops" "Slack: the channel option"
like "$(slack | jq -r '.text')" "^<!here>" "Slack: the mention"

# 2. Restart inside the window: a third failure is still throttled.
daemon_stop TERM
daemon_up
records "$T_TMP/f3.json.gz" RotationFailed:f3:"$ARN_A"
moto put "$M" "$BUCKET" "$KEYP/f3.json.gz" "$T_TMP/f3.json.gz" >/dev/null
publish "$KEYP/f3.json.gz"
wait_until 30 at_least 2 log_lines 'throttled: counted'
is "$(grep -c 'throttled: counted' "$T_TMP/daemon.log")" 2 \
    "a restart inside the throttle window does not re-page"
is "$(pd | wc -l)" 1 "still one PagerDuty event"

# 3. RotationSucceeded resolves the open incident after the restart.
records "$T_TMP/s1.json.gz" RotationSucceeded:s1:"$ARN_A"
moto put "$M" "$BUCKET" "$KEYP/s1.json.gz" "$T_TMP/s1.json.gz" >/dev/null
publish "$KEYP/s1.json.gz"
wait_until 30 at_least 2 pd
is "$(pd | sed -n 2p | jq -r '"\(.event_action) \(.dedup_key)"')" \
    "resolve rotation-failed:$ARN_A" "PagerDuty: resolve with the same dedup_key"
is "$(pd | sed -n 2p | jq -r 'keys | join(",")')" "dedup_key,event_action,routing_key" \
    "PagerDuty resolve: only what the API takes"
wait_until 30 at_least 2 slack
like "$(slack | sed -n 2p | jq -r '.text')" "[Rr]esolved" "Slack: a resolved message"
like "$(slack | sed -n 2p)" "2 more since" \
    "the resolve says how many failures were throttled"

# 4. Three policy changes of secret B within group_wait: one trigger.
records "$T_TMP/g.json.gz" PutResourcePolicy:g1:"$ARN_B" PutResourcePolicy:g2:"$ARN_B" \
    PutResourcePolicy:g3:"$ARN_B"
moto put "$M" "$BUCKET" "$KEYP/g.json.gz" "$T_TMP/g.json.gz" >/dev/null
publish "$KEYP/g.json.gz"
wait_until 30 at_least 3 pd
sleep 1 # a second trigger for the group would show by now
is "$(pd | wc -l)" 3 "group_wait: three matches, one PagerDuty trigger"
is "$(pd | sed -n 3p | jq -r '"\(.dedup_key) \(.payload.custom_details.count) \(.payload.custom_details.events | join(","))"')" \
    "policy-changed:$ARN_B 3 g1,g2,g3" "the trigger lists the grouped events"

# Schemas: every PagerDuty trigger and every Slack message within limits.
is "$(pd | jq -r 'select(.event_action == "trigger") |
    (.payload.summary | length) <= 1024 and (.dedup_key | length) <= 255 and
    (.payload.severity | IN("info","warning","error","critical")) and
    (.payload.source | length) > 0 and (.payload.timestamp | test("Z$"))' | sort -u)" true \
    "PagerDuty triggers: required fields, lengths and enums"
is "$(slack | jq -r '(.blocks | length) <= 50 and (.text | length) > 0 and
    ([.blocks[] | select(.type == "header") | .text.text | length <= 150] | all)' | sort -u)" true \
    "Slack messages: blocks, header length, fallback text"
unlike "$(cat "$T_TMP/daemon.log")" "R0UT1NGKEY|SLACKSECRET" "no routing key or Slack URL in the log"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
