#!/bin/sh
# AWS layer against a real moto with signature checking on: sets up a bucket,
# queues, objects and messages with tests/moto.py, then runs tests/test_aws
# (whose TAP output is this test's), then stops moto.
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
M="$T_TMP/moto"
M2="$T_TMP/moto-unchecked"
mkdir -p "$M"
moto() { "$PY" "$TOP_SRCDIR/tests/moto.py" "$@"; }
fail_setup() {
	echo "not ok 1 - moto setup: $1"
	sed 's/^/# /' "$M/moto.log" 2>/dev/null | tail -20
	echo "1..1"
	moto stop "$M" >/dev/null 2>&1
	moto stop "$M2" >/dev/null 2>&1
	exit 1
}
trap 'moto stop "$M" >/dev/null 2>&1; moto stop "$M2" >/dev/null 2>&1; rm -rf "$T_TMP"' EXIT
moto start "$M" || fail_setup "start"
moto setup "$M" --bucket smtrail-test-bucket --queue work >/dev/null || fail_setup "setup work"
. "$M/env"
SMTRAIL_WORK_QUEUE=$SMTRAIL_QUEUE_URL
moto setup "$M" --bucket smtrail-other-bucket --queue empty >/dev/null || fail_setup "setup empty"
. "$M/env"
SMTRAIL_EMPTY_QUEUE=$SMTRAIL_QUEUE_URL
SM="$DATA/cloudtrail/secretsmanager"
[ -f "$SM/combined_secretsmanager.json.gz" ] || fail_setup "shared data missing: $SM"
B=smtrail-test-bucket
moto put "$M" $B "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/a.json.gz" \
    "$SM/combined_secretsmanager.json.gz" || fail_setup "put gz"
moto put "$M" $B "dir with space/x~y/a b.json" "$SM/aws-docs_secretsmanager.json" \
    --content-type application/json || fail_setup "put key with spaces"
# moto's checker refuses even boto3's signatures on keys with + = % or
# non-ASCII bytes (it rebuilds the path decoded), so those keys are fetched
# from a second moto without checking: that proves the request path; the
# signatures for such keys are checked against botocore in test_sigv4.
M2="$T_TMP/moto-unchecked"
mkdir -p "$M2"
moto start "$M2" --unchecked || fail_setup "start unchecked"
moto setup "$M2" --bucket smtrail-test-bucket --queue odd >/dev/null || fail_setup "setup odd"
moto put "$M2" $B "dir with space/a+b=c/ünï/100%.json" "$SM/aws-docs_secretsmanager.json" \
    --content-type application/json || fail_setup "put odd key"
SMTRAIL_ODD_ENDPOINT=$(. "$M2/env"; echo "$MOTO_ENDPOINT")
export SMTRAIL_ODD_ENDPOINT
moto put "$M" $B "enc/a.json.gz" "$SM/combined_secretsmanager.json.gz" \
    --content-encoding gzip || fail_setup "put encoded"
for i in 1 2 3; do
	printf 'message %s' "$i" >"$T_TMP/body$i"
	moto send "$M" "$SMTRAIL_WORK_QUEUE" "$T_TMP/body$i" >/dev/null || fail_setup "send"
done
# Temporary credentials with a session token, in a profile.
mkdir -p "$T_TMP/aws"
moto assume-role "$M" >"$T_TMP/role.env" || fail_setup "assume-role"
(
	. "$T_TMP/role.env"
	printf '[tok]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n' \
	    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"
	printf '[notok]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
) >"$T_TMP/aws/credentials"
export SMTRAIL_WORK_QUEUE SMTRAIL_EMPTY_QUEUE
export SMTRAIL_TEST_CREDENTIALS="$T_TMP/aws/credentials"
export SMTRAIL_TEST_GZ="$SM/combined_secretsmanager.json.gz"
export SMTRAIL_TEST_PLAIN="$SM/aws-docs_secretsmanager.json"
"$SMTRAIL_WRAP" "$TOP_BUILDDIR/tests/test_aws"
rc=$?
exit $rc
