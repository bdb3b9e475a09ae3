#!/bin/sh
# tests/moto.py itself: moto starts with signature checking on, setup/put/publish/
# receive work with the IAM user's keys, assume-role gives working session
# credentials, and stop leaves no server behind.
. "$(dirname "$0")/lib.sh"
# The interpreter itself, not a pyenv shim (~0.4 s a call).
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
MOTO="$TOP_SRCDIR/tests/moto.py"
D=$T_TMP
trap '"$PY" "$MOTO" stop "$D"; rm -rf "$D"' EXIT
trap 'exit 1' HUP INT TERM  # so that the EXIT trap runs on these too
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN

# probe SERVICE METHOD: one call with the AWS_* keys in the environment;
# prints the HTTP status, then the error code if it failed.
probe() {
	"$PY" -c '
import os, sys, boto3
from botocore.config import Config
from botocore.exceptions import ClientError
c = boto3.client(sys.argv[1], endpoint_url=os.environ["MOTO_ENDPOINT"],
                 region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
try:
    print(getattr(c, sys.argv[2])()["ResponseMetadata"]["HTTPStatusCode"])
except ClientError as e:
    print(e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"].get("Code"))
' "$@" 2>&1
}

"$PY" "$MOTO" start "$D" 2>"$D/start.err"
is "$?" 0 "start exits 0"
[ -s "$D/start.err" ] && sed 's/^/# /' "$D/start.err"
for v in MOTO_PORT MOTO_PID MOTO_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
	AWS_REGION AWS_ENDPOINT_URL SMTRAIL_ROLE_ARN; do
	grep -q "^export $v='..*'\$" "$D/env" 2>/dev/null
	t_ok $? "env exports $v"
done
. "$D/env" || done_testing
is "$MOTO_ENDPOINT" "http://127.0.0.1:$MOTO_PORT" "MOTO_ENDPOINT is on MOTO_PORT"
is "$AWS_ENDPOINT_URL" "$MOTO_ENDPOINT" "AWS_ENDPOINT_URL = MOTO_ENDPOINT"
is "$AWS_REGION" us-east-1 "AWS_REGION us-east-1"
like "$AWS_ACCESS_KEY_ID" '^AKIA' "a real IAM user's access key"

is "$(probe sts get_caller_identity)" 200 "the user's keys are accepted"
like "$(AWS_SECRET_ACCESS_KEY=wrong probe sts get_caller_identity)" \
	'^403 (SignatureDoesNotMatch|InvalidClientTokenId)$' "checking on: wrong secret, 403 (sts)"
like "$(AWS_SECRET_ACCESS_KEY=wrong probe s3 list_buckets)" \
	'^403 SignatureDoesNotMatch$' "checking on: wrong secret, 403 (s3)"
like "$(AWS_ACCESS_KEY_ID=AKIANOSUCHKEY0000000 probe sqs list_queues)" '^403' \
	"checking on: unknown key, 403 (sqs)"

"$PY" "$MOTO" setup "$D" --bucket smtrail-selftest --queue smtrail-q --topic smtrail-t
is "$?" 0 "setup with a topic exits 0"
. "$D/env"
is "$SMTRAIL_BUCKET" smtrail-selftest "SMTRAIL_BUCKET"
is "$SMTRAIL_QUEUE_URL" "$MOTO_ENDPOINT/123456789012/smtrail-q" "SMTRAIL_QUEUE_URL"
is "$SMTRAIL_TOPIC_ARN" arn:aws:sns:us-east-1:123456789012:smtrail-t "SMTRAIL_TOPIC_ARN"

KEY=AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/123456789012_CloudTrail_us-east-1_20261125T0705Z_selftest.json.gz
printf '{"Records":[]}' | gzip >"$D/log.json.gz"
"$PY" "$MOTO" put "$D" "$SMTRAIL_BUCKET" "$KEY" "$D/log.json.gz" --content-type application/json
is "$?" 0 "put exits 0"
"$PY" "$MOTO" cloudtrail-message "$SMTRAIL_BUCKET" "$KEY" >"$D/msg"
is "$(cat "$D/msg")" "{\"s3Bucket\":\"$SMTRAIL_BUCKET\",\"s3ObjectKey\":[\"$KEY\"]}" "cloudtrail-message"
"$PY" "$MOTO" publish "$D" "$SMTRAIL_TOPIC_ARN" "$D/msg"
is "$?" 0 "publish exits 0"
is "$("$PY" "$MOTO" receive "$D" "$SMTRAIL_QUEUE_URL")" "visible=1 inflight=0" \
	"the notification reached the queue"

CREDS=$("$PY" "$MOTO" assume-role "$D")
is "$?" 0 "assume-role exits 0"
like "$CREDS" "^export AWS_ACCESS_KEY_ID='ASIA" "assume-role: ASIA key"
like "$CREDS" "^export AWS_SESSION_TOKEN='.+'\$" "assume-role: a session token"
is "$(eval "$CREDS"; probe sqs list_queues)" 200 "the session credentials work"
like "$(eval "$CREDS"; unset AWS_SESSION_TOKEN; probe sqs list_queues)" '^403' \
	"ASIA keys without the token: 403"

"$PY" "$MOTO" stop "$D"
is "$?" 0 "stop exits 0"
# A zombie (PID 1 here may not reap) counts as gone.
if kill -0 "$MOTO_PID" 2>/dev/null && ! grep -q ') Z' "/proc/$MOTO_PID/stat" 2>/dev/null; then
	t_ok 1 "moto pid $MOTO_PID is gone"
else
	t_ok 0 "moto pid $MOTO_PID is gone"
fi
"$PY" -c 'import socket, sys
sys.exit(socket.socket().connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0)' "$MOTO_PORT"
t_ok $? "port $MOTO_PORT is closed"
"$PY" "$MOTO" stop "$D"
is "$?" 0 "stop again exits 0"
done_testing
