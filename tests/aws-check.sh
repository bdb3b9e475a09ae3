#!/bin/sh
# Regions per service and `smtrail aws-check`, against moto with signature
# checking on (and its IAM policies enforced) and tests/s3proxy.py playing
# S3's strictness about regions: a queue in eu-west-1 (moto finds it only
# when a request is signed for eu-west-1), trail buckets in us-west-2 and
# us-east-1, no region configured anywhere. IAM users with exact inline
# policies show that a missing s3:GetObject, sqs:ReceiveMessage or
# kms:Decrypt is named; then the daemon itself reads the queue and the
# bucket with no region, learns the bucket's region once, and hints at the
# grant on AccessDenied once per bucket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

ACCT=123456789012
Q=euq
QURL="https://sqs.eu-west-1.amazonaws.com/$ACCT/$Q"
QARN="arn:aws:sqs:eu-west-1:$ACCT:$Q"
WB=west-trail
OB=org-trail
WKEY1="AWSLogs/$ACCT/CloudTrail/us-west-2/2026/11/25/${ACCT}_CloudTrail_us-west-2_20261125T0910Z_a.json.gz"
WKEY2="AWSLogs/$ACCT/CloudTrail/us-west-2/2026/11/26/${ACCT}_CloudTrail_us-west-2_20261126T0910Z_b.json.gz"
OKEY="AWSLogs/o-abc123def4/$ACCT/CloudTrail/us-east-1/2026/11/27/${ACCT}_CloudTrail_us-east-1_20261127T0910Z_c.json.gz"

moto start "$M" 2>/dev/null || bail "moto start"
. "$M/env"
KEYS="$T_TMP/keys"
# Buckets, queue, objects and IAM users, with the admin keys of moto.py.
"$PY" - "$M/env" "$T_TMP" "$DEMO_FILE" >"$T_TMP/setup.log" 2>&1 <<EOF || bail "setup: $(tail -3 "$T_TMP/setup.log")"
import json, sys, boto3
from botocore.config import Config
env = dict(l[len("export "):].split("=", 1) for l in open(sys.argv[1]).read().splitlines()
           if l.startswith("export "))
env = {k: v.strip("'") for k, v in env.items()}
kw = dict(endpoint_url=env["MOTO_ENDPOINT"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
          config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
sqs = boto3.client("sqs", region_name="eu-west-1", **kw)
sqs.create_queue(QueueName="$Q")
demo = open(sys.argv[3], "rb").read()
for bucket, region, keys in (("$WB", "us-west-2", ["$WKEY1", "$WKEY2",
                              "AWSLogs/$ACCT/CloudTrail-Digest/us-west-2/2026/11/27/d.json.gz"]),
                             ("$OB", "us-east-1", ["$OKEY"])):
    s3 = boto3.client("s3", region_name=region, **kw)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": region})
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=demo, ContentType="application/octet-stream")
iam = boto3.client("iam", region_name="us-east-1", **kw)
def stmt(actions, resources):
    return {"Effect": "Allow", "Action": actions, "Resource": resources}
# moto authorizes the batch calls by their own names; AWS by the single ones.
sqs_all = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
           "sqs:GetQueueAttributes", "sqs:DeleteMessageBatch",
           "sqs:ChangeMessageVisibilityBatch"]
full = [stmt(sqs_all, "$QARN"),
        stmt("s3:ListBucket", ["arn:aws:s3:::$WB", "arn:aws:s3:::$OB"]),
        stmt("s3:GetObject", ["arn:aws:s3:::$WB/AWSLogs/*", "arn:aws:s3:::$OB/AWSLogs/*"])]
users = {"full": full,
         "noget": full[:2],
         "norecv": [stmt([a for a in sqs_all if a != "sqs:ReceiveMessage"], "$QARN")] + full[1:]}
out = open(sys.argv[2] + "/keys", "w")
for name, statements in users.items():
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="smtrail",
                        PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                   "Statement": statements}))
    ak = iam.create_access_key(UserName=name)["AccessKey"]
    out.write("%s %s\n" % (ak["AccessKeyId"], ak["SecretAccessKey"]))
    open("%s/%s.env" % (sys.argv[2], name), "w").write(
        "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n" % (ak["AccessKeyId"], ak["SecretAccessKey"]))
out.write("%s %s\n" % (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]))
EOF
t_start "$P" "$PY" "$TOP_SRCDIR/tests/s3proxy.py" "$P" --upstream "$MOTO_ENDPOINT" \
    --keys "$KEYS" 2>"$T_TMP/proxy.err" || bail "s3proxy start"
PROXY="http://127.0.0.1:$T_PORT"
# No region anywhere; SQS and STS at moto, S3 through the proxy.
unset AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_PROFILE
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
export AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_SQS="$MOTO_ENDPOINT" AWS_ENDPOINT_URL_STS="$MOTO_ENDPOINT"
export AWS_ENDPOINT_URL_S3="$PROXY"
setmode "region $WB=us-west-2"

conf() { # conf [YAML line]: the aws-check configuration
	cat >"$T_TMP/check.yaml" <<YAML
sqs: {queue_url: "$QURL", max_receive_count: 5}
s3: {allowed_buckets: [$WB, $OB]}
state_dir: "$S"
$1
YAML
}
as_user() { # as_user NAME: its keys in the environment
	AWS_ACCESS_KEY_ID=$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$T_TMP/$1.env")
	AWS_SECRET_ACCESS_KEY=$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$T_TMP/$1.env")
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
}
redirects() { grep -c "\"path\": \"/$WB[/?].*\"status\": 301" "$P/requests.jsonl"; }

# ---- all granted, no region configured ------------------------------------
conf
as_user full
: >"$P/requests.jsonl"
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 0 "all granted: exit 0"
like "$OUT" "^region: none configured" "no region configured"
like "$OUT" "^sqs: region eu-west-1 \(the queue URL's\), endpoint $MOTO_ENDPOINT \(custom\)$" \
    "SQS: the queue URL's region, the custom endpoint"
like "$OUT" "^ok   sqs:GetQueueAttributes on $QARN$" "GetQueueAttributes signed for eu-west-1"
like "$OUT" "^ok   sqs:ReceiveMessage on $QARN \(0 message\(s\) received" "receive checked"
like "$OUT" "^queue: redrive policy none; sqs.max_receive_count 5" "the redrive fallback said"
like "$OUT" "^s3: bucket $WB: region us-west-2 \(learnt from S3's redirect\), endpoint $PROXY/$WB$" \
    "the bucket's region learnt"
like "$OUT" "^ok   s3:ListBucket on arn:aws:s3:::$WB \(prefix AWSLogs/\)$" "ListBucket checked"
like "$OUT" "^ok   s3:GetObject on arn:aws:s3:::$WB/$WKEY2 \(first bytes read\)$" \
    "GetObject of the newest log file (not the digest)"
like "$OUT" "^s3: bucket $OB: region us-east-1 \(S3's default\), endpoint $PROXY/$OB$" \
    "the other bucket: us-east-1"
like "$OUT" "^ok   s3:GetObject on arn:aws:s3:::$OB/$OKEY " "an organization trail's newest file"
like "$OUT" "^credentials: from environment \(key AKIA\.\.\., long-term\)$" "the credentials line"
like "$OUT" "^result: all [0-9]+ checks passed$" "the result line"
unlike "$OUT$ERR" "$AWS_SECRET_ACCESS_KEY" "no secret printed"
is "$(redirects)" 1 "one redirect for the bucket, then its region is cached"
is "$(grep -cF "\"path\": \"/$WB?list-type=2&max-keys=1&prefix=AWSLogs%2F\"" "$P/requests.jsonl")" 2 \
    "the redirected ListObjectsV2 sent again once"

# The region is discovered through HeadBucket when the redirect names none.
setmode "region $WB=us-west-2 bare"
: >"$P/requests.jsonl"
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 0 "a redirect without the region: exit 0"
is "$(grep -cF "\"method\": \"HEAD\", \"path\": \"/$WB\"" "$P/requests.jsonl")" 1 \
    "HeadBucket asked once"
like "$OUT" "^s3: bucket $WB: region us-west-2 \(learnt" "and the region learnt from it"
setmode "region $WB=us-west-2"

# A configured region that is not the queue URL's: warned, not used for SQS.
conf "aws: {region: us-east-1}"
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 0 "aws.region us-east-1, queue in eu-west-1: still works"
like "$OUT" "^warn region: aws.region \(or the environment\) says us-east-1, the queue URL eu-west-1: SQS requests are signed for eu-west-1$" \
    "the mismatch is warned"
like "$OUT" "^region: us-east-1$" "the configured region shown"
conf

# A queue URL whose host is not AWS's names no region: a clear error.
cat >"$T_TMP/local.yaml" <<YAML
sqs: {queue_url: "http://127.0.0.1:1/$ACCT/$Q"}
s3: {allowed_buckets: [$WB]}
rules: "$TOP_SRCDIR/etc/smtrail/rules.yaml"
state_dir: "$S"
default_destinations: [out]
destinations: {out: {type: stdout}}
YAML
st --config "$T_TMP/local.yaml" aws-check
is "$RC" 1 "non-AWS queue URL, no region: aws-check exit 1"
like "$OUT" "^sqs: no AWS region for the queue URL 'http://127.0.0.1:1/$ACCT/$Q' \(its host is not AWS's, so it names none\): set aws.region, AWS_REGION or a profile region$" \
    "non-AWS queue URL, no region: what to set"
st --config "$T_TMP/local.yaml" run
isnt_zero() { [ "$1" != 0 ]; }
isnt_zero "$RC"
t_ok $? "non-AWS queue URL, no region: run refuses to start ($RC)"
like "$ERR" "no AWS region for the queue URL" "run says why"

# ---- what is missing is named -----------------------------------------------
as_user noget
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 1 "no s3:GetObject: exit 1"
like "$OUT" "^FAIL s3:GetObject on arn:aws:s3:::$WB/$WKEY2: AccessDenied: .*; grant s3:GetObject on arn:aws:s3:::$WB/AWSLogs/\*$" \
    "no s3:GetObject: the action and resource named"
like "$OUT" "^ok   sqs:ReceiveMessage on $QARN" "no s3:GetObject: SQS still fine"
like "$OUT" "^result: 2 of [0-9]+ checks failed$" "no s3:GetObject: both buckets fail"

as_user norecv
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 1 "no sqs:ReceiveMessage: exit 1"
like "$OUT" "^FAIL sqs:ReceiveMessage on $QARN: AccessDenied.*; grant sqs:ReceiveMessage on $QARN$" \
    "no sqs:ReceiveMessage: named"
like "$OUT" "^ok   s3:GetObject on arn:aws:s3:::$WB/" "no sqs:ReceiveMessage: S3 still fine"

as_user full
setmode "region $WB=us-west-2
kms $WB/AWSLogs"
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 1 "SSE-KMS without kms:Decrypt: exit 1"
like "$OUT" "^FAIL kms:Decrypt on arn:aws:kms:us-east-1:$ACCT:key/[-0-9a-f]+: AccessDenied: .*kms:Decrypt.*; grant kms:Decrypt on arn:aws:kms:us-east-1:$ACCT:key/[-0-9a-f]+$" \
    "no kms:Decrypt: the key named"
unlike "$OUT" "^FAIL s3:GetObject" "no kms:Decrypt: not blamed on s3:GetObject"
like "$OUT" "^ok   s3:GetObject on arn:aws:s3:::$OB/" "the other bucket unaffected"
setmode "region $WB=us-west-2"

# A queue message: received, left visible, its visibility set to 0.
"$PY" - "$M/env" <<EOF >/dev/null 2>&1 || bail "send"
import sys, boto3
env = {k: v.strip("'") for k, v in (l[len("export "):].split("=", 1)
       for l in open(sys.argv[1]).read().splitlines() if l.startswith("export "))}
boto3.client("sqs", region_name="eu-west-1", endpoint_url=env["MOTO_ENDPOINT"],
             aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
             aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).send_message(
    QueueUrl="$QURL", MessageBody="not a notification")
EOF
st --config "$T_TMP/check.yaml" aws-check
is "$RC" 0 "with a message waiting: exit 0"
like "$OUT" "^ok   sqs:ReceiveMessage on $QARN \(1 message\(s\) received and left visible; its receive count went up by one\)$" \
    "the receive and its cost said"
like "$OUT" "^ok   sqs:ChangeMessageVisibility on $QARN" "ChangeMessageVisibility checked on it"

# ---- the daemon, no region configured ------------------------------------------
receiver_up --key "hook-secret-$$"
printf '%s' "hook-secret-$$" >"$T_TMP/hook.key"
chmod 600 "$T_TMP/hook.key"
cat >"$T_TMP/smtrail.yaml" <<YAML
sqs: {queue_url: "$QURL", wait_time: 1s, max_receive_count: 100}
s3: {allowed_buckets: [$WB]}
sns: {verify_signatures: false}
rules: "$TOP_SRCDIR/etc/smtrail/rules.yaml"
state_dir: "$S"
default_destinations: [hook]
destinations:
  hook: {type: webhook, url: "http://127.0.0.1:$RCV_PORT/hook", hmac_secret_file: "$T_TMP/hook.key"}
YAML
sendmsg() { # sendmsg KEY...: CloudTrail's message (raw delivery) to the queue
	"$PY" - "$M/env" "$@" <<EOF >/dev/null 2>&1 || bail "send"
import json, sys, boto3
env = {k: v.strip("'") for k, v in (l[len("export "):].split("=", 1)
       for l in open(sys.argv[1]).read().splitlines() if l.startswith("export "))}
c = boto3.client("sqs", region_name="eu-west-1", endpoint_url=env["MOTO_ENDPOINT"],
                 aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
for k in sys.argv[2:]:
    c.send_message(QueueUrl="$QURL", MessageBody=json.dumps({"s3Bucket": "$WB", "s3ObjectKey": [k]}))
EOF
}
# The message aws-check left visible first goes away.
"$PY" - "$M/env" <<EOF >/dev/null 2>&1 || bail "purge"
import sys, boto3
env = {k: v.strip("'") for k, v in (l[len("export "):].split("=", 1)
       for l in open(sys.argv[1]).read().splitlines() if l.startswith("export "))}
boto3.client("sqs", region_name="eu-west-1", endpoint_url=env["MOTO_ENDPOINT"],
             aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
             aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).purge_queue(QueueUrl="$QURL")
EOF
: >"$P/requests.jsonl"
daemon_up
like "$(log_lines 'region none, SQS')" "region none, SQS $MOTO_ENDPOINT \(eu-west-1\)" \
    "daemon: no region, SQS signed for the queue URL's"
# One object, then another once the first is read: two fetched at once may
# both be redirected before either has learnt the region (CI saw it).
sendmsg "$WKEY1"
wait_received $((DEMO_N * 1)) 30
is "$(received | sort -u)" "$DEMO_ALERTS" "daemon: the bucket in us-west-2 read, alerts delivered"
sendmsg "$WKEY2"
wait_until 10 test "$(grep -c "\"status\": 20[06]" "$P/requests.jsonl")" -ge 2
is "$(log_lines "s3: bucket '$WB' is in region us-west-2, not us-east-1" | wc -l | tr -d ' ')" 1 \
    "daemon: the region learnt logged once"
is "$(redirects)" 1 "daemon: one redirect for two objects (cached)"
daemon_stop TERM

# The daemon's AccessDenied hint, once per bucket, not per object.
as_user noget
: >"$T_TMP/daemon.log"
daemon_up
sendmsg "$WKEY1" "$WKEY2"
wait_until 30 test "$(log_lines 'GetObject failed: AccessDenied' | wc -l)" -ge 2
is "$(log_lines 'GetObject failed: AccessDenied' | grep -c 'grant s3:GetObject on arn:aws:s3:::')" 1 \
    "daemon: the grant hinted once for two denied objects"
like "$(log_lines 'grant s3:GetObject')" "grant s3:GetObject on arn:aws:s3:::$WB/AWSLogs/$ACCT/CloudTrail/us-west-2/2026/11/2[56]/" \
    "daemon: the hint names the object's ARN"
daemon_stop TERM
done_testing
