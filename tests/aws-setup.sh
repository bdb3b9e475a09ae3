#!/bin/sh
# docs/aws-setup.md, contrib/aws/ and the CloudFormation template, for real:
#  - every JSON block of the document is a file of contrib/aws/ and every
#    file a block, all valid JSON, and moto takes each as what it is;
#  - the template lints (cfn-lint) and deploys into moto (signature and IAM
#    checking on): outputs in AWS form, the redrive to the dead-letter
#    queue, the queue policy, the subscription to the existing trail topic,
#    the EventBridge rule, the reader role (trust with the external ID, the
#    daemon policy);
#  - `smtrail run` against the stack's outputs, assuming the reader role
#    (aws.role_arn, aws.external_id) from a user allowed nothing but
#    sts:AssumeRole: a CloudTrail file put in the bucket and announced on
#    the trail topic arrives as alerts at the receiver, through the
#    subscription the stack made; so does an EventBridge event; a message
#    that cannot be processed lands in the dead-letter queue.
# moto 5.2.1's CloudFormation skips AWS::SQS::QueuePolicy and
# AWS::SNS::Subscription; tests/awssetup.py `complete` makes those from the
# template's own properties (see there). moto also wants the SQS batch
# actions by name, which AWS does not have; `complete` grants them to the
# role, for moto only.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

AS="$PY $TOP_SRCDIR/tests/awssetup.py"
DOC=$TOP_SRCDIR/docs/aws-setup.md
CONTRIB=$TOP_SRCDIR/contrib/aws
TEMPLATE=$CONTRIB/cloudformation.yaml
need "$DOC" "$TEMPLATE"

# tap_from CMD...: each "ok|not ok - NAME" line CMD prints is an assertion.
tap_from() {
	"$@" >"$T_TMP/tap" 2>"$T_TMP/tap.err"
	_rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) t_ok 0 "${line#ok - }" ;;
		"not ok - "*) t_ok 1 "${line#not ok - }" ;;
		esac
	done <"$T_TMP/tap"
	[ $_rc = 0 ] || sed 's/^/# /' "$T_TMP/tap.err"
	return $_rc
}

# ---- 1. the document and the files -----------------------------------------
tap_from $AS blocks "$DOC" "$CONTRIB"
t_ok $? "every JSON block of docs/aws-setup.md is a file of contrib/aws/, and back"
like "$(cat "$TOP_SRCDIR/README.md")" "docs/aws-setup.md" "README.md links the document"

# ---- 2. the template lints ---------------------------------------------------
cfn-lint "$TEMPLATE" >"$T_TMP/lint" 2>&1
t_ok $? "cfn-lint: the template is clean$(head -5 "$T_TMP/lint" | tr '\n' ' ')"

# ---- 3. moto takes every policy --------------------------------------------
moto start "$M" 2>/dev/null || bail "moto start"
. "$M/env"
tap_from $AS accept "$M" "$CONTRIB"
t_ok $? "moto takes every document of contrib/aws/"

# ---- 4. the stack ----------------------------------------------------------
BUCKET=smtrail-org-trail
EXT=smtrail-ext-$$
$AS deploy "$M" "$TEMPLATE" --bucket "$BUCKET" --topic org-trail-topic \
    --external-id "$EXT" --eventbridge >"$T_TMP/outputs" 2>"$T_TMP/deploy.err" ||
    { sed 's/^/# /' "$T_TMP/deploy.err"; bail "deploy the stack"; }
is "$(cat "$T_TMP/outputs")" '["DeadLetterQueueUrl", "QueueArn", "QueueUrl", "ReaderRoleArn"]' \
    "stack: CREATE_COMPLETE, with the four outputs"
is "$($AS complete "$M" "$TEMPLATE")" "QueuePolicy Subscription (moto: the batch actions)" \
    "stack: what moto skipped, completed from the template"
. "$M/env"
is "$STACK_QUEUE_URL" "https://sqs.us-east-1.amazonaws.com/123456789012/smtrail" \
    "output QueueUrl: AWS form"
is "$STACK_DLQ_URL" "https://sqs.us-east-1.amazonaws.com/123456789012/smtrail-dlq" \
    "output DeadLetterQueueUrl"
is "$STACK_QUEUE_ARN" "arn:aws:sqs:us-east-1:123456789012:smtrail" "output QueueArn"
like "$STACK_ROLE_ARN" "^arn:aws:iam::123456789012:role/smtrail-ReaderRole-" "output ReaderRoleArn"

$AS facts "$M" >"$T_TMP/facts.json" || bail "facts"
f() { jq -c "$1" "$T_TMP/facts.json"; }
is "$(f .redrive)" '{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:smtrail-dlq","maxReceiveCount":5}' \
    "queue: redrive to the dead-letter queue after 5 receives"
is "$(f .visibility)" '"300"' "queue: visibility timeout 300 s"
is "$(f '[.policy.Statement[] | {s: .Sid, p: .Principal.Service, a: .Action, r: .Resource, c: .Condition.ArnEquals["aws:SourceArn"]}]')" \
    '[{"s":"TrailTopicSendsToQueue","p":"sns.amazonaws.com","a":"sqs:SendMessage","r":"arn:aws:sqs:us-east-1:123456789012:smtrail","c":"'"$TRAIL_TOPIC_ARN"'"},{"s":"SecretsManagerRuleSendsToQueue","p":"events.amazonaws.com","a":"sqs:SendMessage","r":"arn:aws:sqs:us-east-1:123456789012:smtrail","c":"arn:aws:events:us-east-1:123456789012:rule/smtrail-secretsmanager"}]' \
    "queue policy: the trail topic and the rule, nothing else"
is "$(f .subscriptions)" '[{"endpoint":"arn:aws:sqs:us-east-1:123456789012:smtrail","pending":"false","protocol":"sqs","raw":"false"}]' \
    "subscription: the queue, to the existing trail topic"
is "$(f .rules)" '[{"name":"smtrail-secretsmanager","pattern":{"source":["aws.secretsmanager"]},"targets":["arn:aws:sqs:us-east-1:123456789012:smtrail"]}]' \
    "EventBridge rule: Secrets Manager's events to the queue"
is "$(f '.rules[0].pattern')" "$(jq -c . "$CONTRIB/eventbridge-pattern.json")" \
    "EventBridge rule: the documented pattern"
is "$(f '.trust.Statement[0] | [.Principal.AWS, .Action, .Condition.StringEquals["sts:ExternalId"]]')" \
    '["'"$SOURCE_ARN"'","sts:AssumeRole","'"$EXT"'"]' \
    "reader role: only the trusted principal, with the external ID"
# The role's policy is the documented one (less the key: none was given).
is "$(f '[.attached.ReaderPolicy.Statement[] | [.Sid, .Action, (.Condition // null)]]')" \
    "$(jq -c '[.Statement[] | select(.Sid != "DecryptTheLogFiles") | [.Sid, .Action, (.Condition // null)]]' "$CONTRIB/daemon-policy.json")" \
    "reader role: the daemon policy's statements, actions and conditions"
is "$(f '[.attached.ReaderPolicy.Statement[].Resource]')" \
    '["arn:aws:sqs:us-east-1:123456789012:smtrail","arn:aws:s3:::'"$BUCKET"'/AWSLogs/*","arn:aws:s3:::'"$BUCKET"'"]' \
    "reader role: on this queue and bucket"
is "$(f '.attached | keys')" '["ReaderPolicy"]' "reader role: no kms:Decrypt without a key"

# moto enforces IAM: what the role may and may not do, and the source user.
is "$($AS try "$M" assume --external-id "$EXT")" ok "the source user assumes the role"
is "$($AS try "$M" assume --external-id wrong-$$)" AccessDenied "a wrong external ID is refused"
is "$($AS try "$M" receive-as-source)" 403 "the source user cannot read the queue itself"
is "$($AS try "$M" receive-as-role --external-id "$EXT")" ok "the role reads the queue"
is "$($AS try "$M" get-as-role "$BUCKET" AWSLogs/none --external-id "$EXT")" NoSuchKey \
    "the role may read under AWSLogs/"
is "$($AS try "$M" get-as-role "$BUCKET" other/none --external-id "$EXT")" AccessDenied \
    "the role may not read outside AWSLogs/"

# ---- 5. the daemon against the stack ---------------------------------------
KEY="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/123456789012_CloudTrail_us-east-1_20261125T0910Z_demo0001.json.gz"
moto put "$M" "$BUCKET" "$KEY" "$DEMO_FILE" >/dev/null || bail "put the log file"
receiver_up --key "hook-secret-$$"
SMTRAIL_QUEUE_URL=$STACK_QUEUE_URL
# The daemon's source credentials: the user allowed only sts:AssumeRole.
AWS_EXTRA="role_arn: \"$STACK_ROLE_ARN\", external_id: \"$EXT\"" \
    TOPICS=$TRAIL_TOPIC_ARN VISIBILITY=2s write_config
AWS_ACCESS_KEY_ID=$SOURCE_KEY AWS_SECRET_ACCESS_KEY=$SOURCE_SECRET
unset AWS_SESSION_TOKEN
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
# aws-check through the role, on the config without its bucket: moto refuses
# correct signatures of a query value holding '/' (aws-check's ListObjectsV2
# prefix=AWSLogs/; see tests/daemon-roles.sh). The role's S3 reads are
# proven above (try get-as-role) and by the daemon below.
grep -v '^s3: {allowed_buckets: ' "$T_TMP/smtrail.yaml" >"$T_TMP/awscheck.yaml"
st --config "$T_TMP/awscheck.yaml" aws-check
is "$RC" 0 "aws-check: the checks pass with the stack's role and policy"
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | sed 's/^/# aws-check: /'
like "$OUT" "^credentials: from assume-role \(key ASIA" "aws-check: through the role"
like "$OUT" "^ok +sqs:GetQueueAttributes on $STACK_QUEUE_ARN" "aws-check: sqs:GetQueueAttributes"
like "$OUT" "^ok +sqs:ReceiveMessage on $STACK_QUEUE_ARN" "aws-check: sqs:ReceiveMessage"
like "$OUT" "redrive policy .*smtrail-dlq.*\"maxReceiveCount\": 5" "aws-check: shows the stack's redrive"
daemon_up
# CloudTrail's notification, published to the trail topic: it reaches the
# queue only through the stack's subscription.
moto cloudtrail-message "$BUCKET" "$KEY" >"$T_TMP/msg.json"
moto publish "$M" "$TRAIL_TOPIC_ARN" "$T_TMP/msg.json" >/dev/null || bail "publish"
wait_received "$DEMO_N" 30
is "$(received | sort)" "$DEMO_ALERTS" "trail path: every alert of the file arrives, once"
like "$(log_lines 'ready: receiving')" "with credentials from assume-role" \
    "the daemon says it reads as the reader role"

# EventBridge: a Secrets Manager event through the rule.
gunzip -c "$DEMO_FILE" | jq -c '.Records[] | select(.eventName == "DeleteSecret")
    | .eventID = "eb-0001-0000-4000-8000-000000000000"' >"$T_TMP/event.json"
$AS event "$M" "$T_TMP/event.json" || bail "put the event"
wait_until 30 has_alert eb-0001-0000-4000-8000-000000000000
t_ok $? "EventBridge path: the event arrives as an alert"

# A notification naming a file that does not exist: permanent, left to the
# redrive policy; after 5 receives it is in the dead-letter queue.
moto cloudtrail-message "$BUCKET" "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/gone.json.gz" \
    >"$T_TMP/gone.json"
moto publish "$M" "$TRAIL_TOPIC_ARN" "$T_TMP/gone.json" >/dev/null || bail "publish"
DLQ_LOCAL=$(printf '%s' "$STACK_DLQ_URL" | sed "s|^https://[^/]*|$MOTO_ENDPOINT|")
dlq_has_one() { [ "$(moto receive "$M" "$DLQ_LOCAL")" = "visible=1 inflight=0" ]; }
wait_until 60 dlq_has_one
t_ok $? "redrive: a message that cannot be processed ends in the dead-letter queue"
like "$(log_lines 'cannot be processed')" "object_missing.*receive 5" \
    "redrive: the daemon left it to the redrive policy, 5 times"
wait_queue_empty 20
is "$(queue_counts)" "visible=0 inflight=0" "the queue drains"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
