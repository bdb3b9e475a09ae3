#!/bin/sh
# Role assumption against moto with signature checking and IAM policies on.
# A user `source` may only call sts:AssumeRole; the role `reader` (trust:
# ExternalId ext-<pid>) may read the queue and the bucket; the role `hop`
# may only assume `reader`. The user alone is refused; the daemon configured
# with aws.role_arn (source keys from the environment), with a source_profile
# chain two deep (a: reader from b, b: hop from c, c: the user's keys) and
# with credential_process under aws.role_arn each delivers an alert. A wrong
# external ID fails naming the role; aws-check shows the assume-role
# provider. No secret key reaches any output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-roles-trail work
receiver_up --key "hook-secret-$$"
moto put "$M" "$BUCKET" "$DEMO_KEY" "$DEMO_FILE" >/dev/null || bail "put"
EXT="ext-$$"
ACCT=123456789012
READER="arn:aws:iam::$ACCT:role/reader"
HOP="arn:aws:iam::$ACCT:role/hop"

# The IAM setup, signed with the admin keys moto.py made.
"$PY" - "$M/env" "$EXT" >"$T_TMP/source.env" <<'EOF' || bail "iam setup"
import json, sys
import boto3
from botocore.config import Config

env = {}
for line in open(sys.argv[1]):
    if line.startswith("export "):
        k, v = line[7:].strip().split("=", 1)
        env[k] = v.strip("'")
ext = sys.argv[2]
acct = "123456789012"
qurl = env["SMTRAIL_QUEUE_URL"]
qarn = "arn:aws:sqs:us-east-1:%s:%s" % (acct, qurl.rsplit("/", 1)[1])
iam = boto3.session.Session().client(
    "iam", endpoint_url=env["MOTO_ENDPOINT"], region_name="us-east-1",
    aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    config=Config(retries={"total_max_attempts": 1}))


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


iam.create_user(UserName="source")
iam.put_user_policy(UserName="source", PolicyName="assume-only", PolicyDocument=doc(
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
ak = iam.create_access_key(UserName="source")["AccessKey"]
# moto matches a trust policy's principal literally (an account root or a
# role does not match an assumed-role session): "*", narrowed by ExternalId
# for reader; what each principal may assume is its identity policy's say.
iam.create_role(RoleName="reader", AssumeRolePolicyDocument=doc(
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
     "Condition": {"StringEquals": {"sts:ExternalId": ext}}}))
iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=doc(
    {"Effect": "Allow", "Resource": qarn, "Action": [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:DeleteMessageBatch",
        "sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch",
        "sqs:GetQueueAttributes"]},
    {"Effect": "Allow", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::%s/*" % env["SMTRAIL_BUCKET"]}))
iam.create_role(RoleName="hop", AssumeRolePolicyDocument=doc(
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:user/source" % acct},
     "Action": "sts:AssumeRole"}))
iam.put_role_policy(RoleName="hop", PolicyName="hop", PolicyDocument=doc(
    {"Effect": "Allow", "Action": "sts:AssumeRole",
     "Resource": "arn:aws:iam::%s:role/reader" % acct}))
print("SOURCE_KEY='%s'\nSOURCE_SECRET='%s'" % (ak["AccessKeyId"], ak["SecretAccessKey"]))
EOF
. "$T_TMP/source.env"
[ -n "$SOURCE_SECRET" ] || bail "source keys"

# use_source: the environment holds the user's keys, nothing else.
use_source() {
	AWS_ACCESS_KEY_ID=$SOURCE_KEY
	AWS_SECRET_ACCESS_KEY=$SOURCE_SECRET
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	unset AWS_SESSION_TOKEN AWS_PROFILE
}
# no_secret TEXT NAME: the user's secret key is not in TEXT (fixed string).
no_secret() {
	if printf '%s\n' "$1" | grep -qF -- "$SOURCE_SECRET"; then
		t_ok 1 "$2"
	else
		t_ok 0 "$2"
	fi
}
# fresh_log: keeps what the last daemon wrote (checked at the end).
fresh_log() {
	cat "$T_TMP/daemon.log" >>"$T_TMP/all-daemons.log" 2>/dev/null
	: >"$T_TMP/daemon.log"
}
# no_env_keys: none at all (a profile must provide them).
no_env_keys() { unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN; }

# config AWS_MAPPING: write_config, with this as its aws: line.
config() {
	write_config
	{ printf 'aws: {region: us-east-1, endpoint_url: "%s"%s}\n' "$MOTO_ENDPOINT" "$1"
	  tail -n +2 "$T_TMP/smtrail.yaml"; } >"$T_TMP/smtrail.yaml.new"
	mv "$T_TMP/smtrail.yaml.new" "$T_TMP/smtrail.yaml"
}

# awscheck: `smtrail aws-check` ($OUT, $ERR, $RC) on the config without its
# bucket. moto's signature checker refuses any correct signature of a query
# value with a '/' (aws-check's ListObjectsV2 prefix=AWSLogs/), and the
# fault proxy that re-signs those (tests/aws-check.sh) needs the secret,
# which for an assumed role only smtrail holds: here aws-check proves the
# credentials and the queue, and the daemons below prove the role's S3 reads.
awscheck() {
	grep -q '^s3: {allowed_buckets: ' "$T_TMP/smtrail.yaml" || bail "awscheck config"
	grep -v '^s3: {allowed_buckets: ' "$T_TMP/smtrail.yaml" >"$T_TMP/awscheck.yaml"
	st --config "$T_TMP/awscheck.yaml" aws-check
}

# run_daemon NAME: a fresh daemon; the log says assume-role; a one-event
# trail NAME arrives; the daemon stops.
run_daemon() {
	fresh_log
	daemon_up
	like "$(cat "$T_TMP/daemon.log")" \
	    "ready: receiving from .* with credentials from assume-role" \
	    "$1: the daemon runs with the role's credentials"
	canary "$1"
	t_ok $? "$1: an alert from the role-read notification and object"
	daemon_stop TERM
	is "$STOP_RC" 0 "$1: the daemon stops cleanly"
}

# ---- the user alone ---------------------------------------------------------

use_source
"$PY" - "$MOTO_ENDPOINT" "$SMTRAIL_QUEUE_URL" "$BUCKET" "$DEMO_KEY" >"$T_TMP/alone" 2>&1 <<'EOF'
import os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
ep, qurl, bucket, key = sys.argv[1:5]
def cl(svc):
    return boto3.session.Session().client(svc, endpoint_url=ep, region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
for name, call in (("sqs", lambda: cl("sqs").receive_message(QueueUrl=qurl, WaitTimeSeconds=0)),
                   ("s3", lambda: cl("s3").get_object(Bucket=bucket, Key=key))):
    try:
        call()
        print(name, "allowed")
    except ClientError as e:
        r = e.response
        print(name, r["ResponseMetadata"]["HTTPStatusCode"],
              "AccessDenied" if "AccessDenied" in str(e) else r["Error"]["Code"])
EOF
is "$(cat "$T_TMP/alone")" "sqs 403 AccessDenied
s3 403 AccessDenied" "the user alone: SQS and S3 refuse it (AccessDenied)"
config ""
awscheck
is "$RC" 1 "aws-check with the user's keys alone: exit 1"
like "$OUT" "^credentials: from environment \(key AKIA" "aws-check: the environment's keys"
like "$OUT" "^FAIL sqs:ReceiveMessage on arn:aws:sqs:us-east-1:$ACCT:work: AccessDenied" "and the queue refuses them"

# ---- aws.role_arn + external_id over the environment --------------------------

config ", role_arn: \"$READER\", external_id: \"$EXT\""
awscheck
is "$RC" 0 "aws-check with aws.role_arn: exit 0"
like "$OUT" "^credentials: from assume-role \(key ASIA\.\.\., temporary, with a session token\)$" \
    "aws-check: the credentials line names the assume-role provider"
like "$OUT" "^queue: arn:aws:sqs:us-east-1:$ACCT:work$" "aws-check: the role reads the queue"
no_secret "$OUT$ERR" "aws-check: no secret printed"

fresh_log
daemon_up
like "$(cat "$T_TMP/daemon.log")" "ready: receiving from .* with credentials from assume-role" \
    "env source: the daemon runs with the role's credentials"
publish "$DEMO_KEY"
wait_received $DEMO_N 30
is "$(received | sort)" "$DEMO_ALERTS" \
    "env source: the demo notification and object read with the role, every alert delivered"
wait_queue_empty 15
is "$(queue_counts)" "visible=0 inflight=0" "env source: the message is deleted with the role"
daemon_stop TERM
is "$STOP_RC" 0 "env source: the daemon stops cleanly"

# A wrong external ID: STS refuses, the message names the role and the code.
config ", role_arn: \"$READER\", external_id: \"wrong-$EXT\""
awscheck
is "$RC" 1 "wrong external_id: aws-check exit 1"
like "$OUT" "^credentials: none \(assume-role $READER: STS AssumeRole failed: HTTP 403 AccessDenied\)$" \
    "wrong external_id: names the role and STS's code"
fresh_log
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" --log-level info run \
    >>"$T_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_log "assume-role $READER: STS AssumeRole failed: HTTP 403 AccessDenied" 20
t_ok $? "wrong external_id: the daemon's log names the role and the code"
if kill -0 "$DAEMON_PID" 2>/dev/null; then daemon_stop TERM; else wait "$DAEMON_PID"; fi
DAEMON_PID=

# ---- a source_profile chain two deep -----------------------------------------

no_env_keys
export AWS_CONFIG_FILE="$T_TMP/aws-config" AWS_SHARED_CREDENTIALS_FILE="$T_TMP/aws-credentials"
cat >"$AWS_CONFIG_FILE" <<EOF
[profile a]
role_arn = $READER
source_profile = b
external_id = $EXT
role_session_name = chain-a
[profile b]
role_arn = $HOP
source_profile = c
[profile p]
credential_process = "$T_TMP/creds helper.sh" --profile 'with space'
EOF
printf '[c]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$SOURCE_KEY" "$SOURCE_SECRET" >"$AWS_SHARED_CREDENTIALS_FILE"
chmod 600 "$AWS_SHARED_CREDENTIALS_FILE"

config ", profile: b"
awscheck
like "$OUT" "^credentials: from assume-role \(key ASIA" "profile b: hop is assumed from c"
like "$OUT" "^FAIL sqs:ReceiveMessage on arn:aws:sqs:us-east-1:$ACCT:work: AccessDenied" "but hop may not read the queue"
config ", profile: a"
awscheck
is "$RC" 0 "profile a (reader from hop from c): aws-check exit 0"
like "$OUT" "^credentials: from assume-role \(key ASIA" "profile a: assume-role"
run_daemon chain

# ---- credential_process under aws.role_arn ------------------------------------

printf '%s\n' "{\"Version\": 1, \"AccessKeyId\": \"$SOURCE_KEY\", \"SecretAccessKey\": \"$SOURCE_SECRET\"}" \
    >"$T_TMP/helper.json"
chmod 600 "$T_TMP/helper.json"
cat >"$T_TMP/creds helper.sh" <<EOF
#!/bin/sh
[ "\$1 \$2" = "--profile with space" ] || { echo "bad arguments: \$*" >&2; exit 2; }
cat "$T_TMP/helper.json"
EOF
chmod 700 "$T_TMP/creds helper.sh"
config ", profile: p, role_arn: \"$READER\", external_id: \"$EXT\""
awscheck
is "$RC" 0 "credential_process + role_arn: aws-check exit 0"
like "$OUT" "^credentials: from assume-role \(key ASIA" "credential_process + role_arn: assume-role"
run_daemon process

# Without the role, the process's keys are the user's: refused.
config ", profile: p"
awscheck
like "$OUT" "^credentials: from process \(key AKIA\.\.\., long-term\)$" \
    "credential_process alone: the process provider"
like "$OUT" "^FAIL sqs:ReceiveMessage on arn:aws:sqs:us-east-1:$ACCT:work: AccessDenied" "and the user's keys are refused"

# A failing process: its status, a short masked excerpt, no stdout.
cat >"$T_TMP/creds helper.sh" <<EOF
#!/bin/sh
cat "$T_TMP/helper.json"
echo "login expired for $SOURCE_SECRET" >&2
exit 4
EOF
awscheck
like "$OUT" "credential_process exited with status 4: login expired for " \
    "a failing credential_process: status and stderr's start"
no_secret "$OUT$ERR" "a failing credential_process: no secret shown"

fresh_log
no_secret "$(cat "$T_TMP/all-daemons.log")" "no secret key in any daemon's log"
no_secret "$(cat "$R/received.jsonl")" "nor in what the receiver got"
done_testing
