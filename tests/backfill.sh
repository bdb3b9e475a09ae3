#!/bin/sh
# smtrail backfill against moto (signature checking on; ListObjectsV2 and
# GetObject through tests/s3proxy.py --keys, moto's checker refusing correct
# signatures of query values with '/'): a generated month of logs under a
# prefix, two accounts (one in an organization trail's layout) and three
# regions, a day with over 1000 objects (paging), a digest folder, a folder
# that is no account, days outside the range and a decoy outside the prefix.
# The alerts must be exactly those `smtrail replay` finds in the same files
# of the range; a backfill killed with -9 goes on and repeats none; the
# delivering backfill shares the daemon's dedup and refuses a held spool.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

B=trail-bucket
PFX=trails/main
IN="$T_TMP/in"
mkdir -p "$IN"
moto start "$M" 2>/dev/null || bail "moto start"
. "$M/env"
"$PY" - "$M/env" "$IN" >"$T_TMP/setup.log" 2>&1 <<EOF || bail "setup: $(tail -3 "$T_TMP/setup.log")"
import gzip, io, json, sys, boto3
from botocore.config import Config
env = dict(l[len("export "):].split("=", 1) for l in open(sys.argv[1]).read().splitlines()
           if l.startswith("export "))
env = {k: v.strip("'") for k, v in env.items()}
kw = dict(endpoint_url=env["MOTO_ENDPOINT"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
          config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
s3 = boto3.client("s3", region_name="us-east-1", **kw)
s3.create_bucket(Bucket="$B")
n = 0
def rec(eid, acct, region, t, source, name):
    return {"eventVersion": "1.08", "eventTime": t, "eventSource": source, "eventName": name,
            "awsRegion": region, "sourceIPAddress": "192.0.2.7", "userAgent": "aws-cli/2",
            "userIdentity": {"type": "IAMUser", "accountId": acct,
                             "arn": "arn:aws:iam::%s:user/u%d" % (acct, n % 7)},
            "requestParameters": {"secretId": "s-%d" % (n % 13)}, "responseElements": None,
            "requestID": "r-" + eid, "eventID": eid, "readOnly": name.startswith("Get"),
            "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": acct, "eventCategory": "Management"}
def log(sm, noise, acct, region, t, tag):
    global n
    rs = []
    for i in range(sm):
        n += 1
        rs.append(rec("%s-%d" % (tag, n), acct, region, t, "secretsmanager.amazonaws.com",
                      ["GetSecretValue", "DeleteSecret", "PutSecretValue"][n % 3]))
        for k in range(noise):
            rs.append(rec("%s-%d-n%d" % (tag, n, k), acct, region, t, "ec2.amazonaws.com",
                          "DescribeInstances"))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(json.dumps({"Records": rs}).encode())
    return buf.getvalue()
def put(key, body, local):
    s3.put_object(Bucket="$B", Key=key, Body=body, ContentType="application/octet-stream")
    if local:
        open("%s/%s" % (sys.argv[2], key.replace("/", "_")), "wb").write(body)
places = [("AWSLogs/111111111111", "111111111111"),
          ("AWSLogs/o-abc123def4/222222222222", "222222222222")]
for base, acct in places:
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        for day in range(1, 31):
            for hh in ("0910", "2155"):
                stamp = "202611%02dT%sZ" % (day, hh)
                t = "2026-11-%02dT%s:%s:00Z" % (day, hh[:2], hh[2:])
                key = "$PFX/%s/CloudTrail/%s/2026/11/%02d/%s_CloudTrail_%s_%s_x%s.json.gz" % (
                    base, region, day, acct, region, stamp, hh)
                inside = 3 <= day <= 27
                put(key, log(6, 40, acct, region, t, "ok" if inside else "out"), inside)
        # CloudTrail's digests: never scanned (SM events in them would show).
        put("$PFX/%s/CloudTrail-Digest/%s/2026/11/10/%s_CloudTrail-Digest_%s_20261110T0000Z.json.gz"
            % (base, region, acct, region), log(2, 0, acct, region, "2026-11-10T00:00:00Z", "digest"),
            False)
# Over a page: 1001 small objects on one day (paging of ListObjectsV2).
for i in range(1001):
    key = "$PFX/AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/15/111111111111_CloudTrail_us-east-1_20261115T1200Z_p%04d.json.gz" % i
    put(key, log(1, 0, "111111111111", "us-east-1", "2026-11-15T12:00:00Z", "page"), True)
# Not an account; outside the prefix; not a log file.
put("$PFX/AWSLogs/junk/CloudTrail/us-east-1/2026/11/10/x.json.gz",
    log(1, 0, "1", "us-east-1", "2026-11-10T00:00:00Z", "junk"), False)
put("other/AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/10/x.json.gz",
    log(1, 0, "1", "us-east-1", "2026-11-10T00:00:00Z", "decoy"), False)
put("$PFX/AWSLogs/111111111111/CloudTrail/us-east-1/2026/11/10/readme.txt", b"hello", False)
open(sys.argv[2] + "/../keys", "w").write("%s %s\n" % (env["AWS_ACCESS_KEY_ID"],
                                                     env["AWS_SECRET_ACCESS_KEY"]))
EOF
t_start "$P" "$PY" "$TOP_SRCDIR/tests/s3proxy.py" "$P" --upstream "$MOTO_ENDPOINT" \
    --keys "$T_TMP/keys" 2>"$T_TMP/proxy.err" || bail "s3proxy start"
PROXY="http://127.0.0.1:$T_PORT"
unset AWS_ENDPOINT_URL AWS_PROFILE
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
export AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_S3="$PROXY"

cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: sm-any
    match:
      eventSource: secretsmanager.amazonaws.com
  - id: sm-delete
    severity: warning
    match:
      eventName: DeleteSecret
YAML
receiver_up
cat >"$T_TMP/bf.yaml" <<YAML
aws: {region: us-east-1}
s3: {allowed_buckets: [$B]}
rules: "$T_TMP/rules.yaml"
state_dir: "$S"
default_destinations: [hook]
destinations:
  hook: {type: webhook, url: "http://127.0.0.1:$RCV_PORT/hook", timeout: 2s, deadline: 1m}
YAML
ids() { jq -r '"\(.rule) \(.eventID)"' | sort; }

# The expected alerts: replay over the same files of the range.
st -c "$T_TMP/bf.yaml" replay "$IN"
is "$RC" 0 "replay of the range's files: exit 0"
printf '%s\n' "$OUT" | ids >"$T_TMP/want"
# 2 places x 3 regions x 25 days x 2 files x 6 events, and 1001 one-event
# files; a DeleteSecret is one event in three.
is "$(grep -c '^sm-any ' "$T_TMP/want")" $((1800 + 1001)) "replay: every event of the range"
N_DEL=$(grep -c '^sm-delete ' "$T_TMP/want")
ok_del=1
[ "$N_DEL" -gt 900 ] && [ "$N_DEL" -lt 960 ] && ok_del=0
t_ok $ok_del "replay: the deletes, one in three ($N_DEL)"
N_ALL=$(wc -l <"$T_TMP/want")

BF="backfill --bucket $B --prefix $PFX --since 2026-11-03 --until 2026-11-27T23:00:00Z"
# ---- dry run: exactly replay's alerts ---------------------------------------
st -c "$T_TMP/bf.yaml" $BF --dry-run --state "$T_TMP/dry1"
is "$RC" 0 "dry run: exit 0"
printf '%s\n' "$OUT" | ids >"$T_TMP/got"
is "$(cmp "$T_TMP/want" "$T_TMP/got" >/dev/null 2>&1 && echo same ||
    diff "$T_TMP/want" "$T_TMP/got" | head -5)" same "dry run: exactly replay's alerts"
like "$ERR" "^backfill: 2 accounts, 6 regions, " "both accounts (one in the org layout), 3 regions each"
like "$ERR" "^objects: 1301 in range, 1301 scanned, 0 resumed \(checkpoint\), 0 failed$" \
    "300 objects in the range plus the 1001 of one day (over a page)"
like "$ERR" "^records: 74801 scanned, 2801 Secrets Manager$" "records counted"
like "$ERR" "^time: .* objects/s, .* MB/s, .* events/s$" "throughput reported"
grep '^time:' "$T_TMP/err" | sed 's/^/# bench: /'
unlike "$OUT" "digest-|junk-|decoy-|out-" "no digest, non-account, out-of-prefix or out-of-range event"
is "$(grep -c 'continuation-token=' "$P/requests.jsonl")" 1 "the 1001-object day took a second page"
is "$(wc -l <"$T_TMP/dry1/backfill.checkpoint")" 1301 "every object in the checkpoint"
is "$(grep -cv "^$B/$PFX/AWSLogs/" "$T_TMP/dry1/backfill.checkpoint")" 0 \
    "the checkpoint names bucket/key"
is "$(received | wc -l)" 0 "dry run: nothing delivered"

# The same command again: everything resumed, nothing printed.
st -c "$T_TMP/bf.yaml" $BF --dry-run --state "$T_TMP/dry1"
is "$RC" 0 "again: exit 0"
is "$OUT" "" "again: no alert repeated"
like "$ERR" "^objects: 1301 in range, 0 scanned, 1301 resumed" "again: all from the checkpoint"

# ---- kill -9, then resume -------------------------------------------------------
"$SMTRAIL" -c "$T_TMP/bf.yaml" $BF --dry-run --jobs 2 --state "$T_TMP/dry2" \
    >"$T_TMP/k1.out" 2>"$T_TMP/k1.err" &
KPID=$!
ckpt_lines() { [ -f "$T_TMP/dry2/backfill.checkpoint" ] &&
    [ "$(wc -l <"$T_TMP/dry2/backfill.checkpoint")" -ge 400 ]; }
wait_until 120 ckpt_lines
kill -9 "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
DONE1=$(wc -l <"$T_TMP/dry2/backfill.checkpoint")
ok_killed=1
[ "$DONE1" -ge 400 ] && [ "$DONE1" -lt 1301 ] && ok_killed=0
t_ok $ok_killed "killed mid-way ($DONE1 of 1301 objects done)"
st -c "$T_TMP/bf.yaml" $BF --dry-run --jobs 2 --state "$T_TMP/dry2"
is "$RC" 0 "resumed: exit 0"
like "$ERR" "^objects: 1301 in range, [0-9]+ scanned, $DONE1 resumed \(checkpoint\), 0 failed$" \
    "resumed: the checkpoint's objects skipped"
cat "$T_TMP/k1.out" "$T_TMP/out" | ids >"$T_TMP/got2"
is "$(uniq -d "$T_TMP/got2" | head -3)" "" "resumed: no alert repeated"
is "$(cmp "$T_TMP/want" "$T_TMP/got2" >/dev/null 2>&1 && echo same ||
    diff "$T_TMP/want" "$T_TMP/got2" | head -5)" same "killed + resumed: exactly replay's alerts"

# ---- delivering: the daemon's state dir and dedup --------------------------------
mkdir -p "$S"
: >>"$S/spool.journal"
(exec 9>>"$S/spool.journal" && flock 9 && exec sleep 30) &
FPID=$!
sleep 0.3
st -c "$T_TMP/bf.yaml" $BF
is "$RC" 1 "spool held (a daemon running): exit 1"
like "$ERR" "state directory $S is held by another process \(the daemon\?\): stop it first, or use --dry-run" \
    "spool held: said so"
kill "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null

st -c "$T_TMP/bf.yaml" $BF
is "$RC" 0 "deliver: exit 0"
wait_received "$N_ALL" 30
received_sorted >"$T_TMP/rcv.sorted"
is "$(cmp "$T_TMP/want" "$T_TMP/rcv.sorted" >/dev/null 2>&1 && echo same ||
    diff "$T_TMP/want" "$T_TMP/rcv.sorted" | head -5)" same "deliver: exactly replay's alerts delivered"
like "$ERR" "^deliveries: $N_ALL delivered, 0 failed$" "deliver: counted"
rm -f "$S/backfill.checkpoint"
st -c "$T_TMP/bf.yaml" $BF
is "$RC" 0 "deliver again (checkpoint gone, every object scanned): exit 0"
like "$ERR" "^objects: 1301 in range, 1301 scanned, 0 resumed" "deliver again: scanned"
like "$ERR" "^deliveries: 0 delivered, 0 failed$" "deliver again: the spool's dedup pages nobody twice"
is "$(received | wc -l)" "$N_ALL" "deliver again: nothing more received"

# ---- delivering, kill -9, then resume -------------------------------------------
# A killed run's alerts spooled but not delivered go out with the next run;
# one in flight at the kill may be sent twice, with the same delivery id.
# The receiver is slow until the kill, so that alerts wait in the spool.
S2="$T_TMP/state2"
sed "s|^state_dir: .*|state_dir: \"$S2\"|" "$T_TMP/bf.yaml" >"$T_TMP/bf2.yaml"
receiver_down
rm -f "$R/received.jsonl"
echo 0.3 >"$T_TMP/delay"
receiver_up --delay-file "$T_TMP/delay"
sed -i "s|http://127.0.0.1:[0-9]*/hook|http://127.0.0.1:$RCV_PORT/hook|" "$T_TMP/bf2.yaml"
"$SMTRAIL" -c "$T_TMP/bf2.yaml" $BF --jobs 2 >"$T_TMP/k2.out" 2>"$T_TMP/k2.err" &
KPID=$!
ckpt2() { [ -f "$S2/backfill.checkpoint" ] && [ "$(wc -l <"$S2/backfill.checkpoint")" -ge 20 ]; }
wait_until 120 ckpt2
kill -9 "$KPID" 2>/dev/null
wait "$KPID" 2>/dev/null
DONE2=$(wc -l <"$S2/backfill.checkpoint")
ok_killed=1
[ "$DONE2" -ge 20 ] && [ "$DONE2" -lt 1301 ] && ok_killed=0
t_ok $ok_killed "delivering: killed mid-way ($DONE2 of 1301 objects done)"
echo 0 >"$T_TMP/delay"
KILLED_RCV=$(received | wc -l)
echo "# delivering: $KILLED_RCV alerts delivered before the kill"
st -c "$T_TMP/bf2.yaml" $BF --jobs 2
is "$RC" 0 "delivering, resumed: exit 0"
wait_received "$N_ALL" 30
received | sort -u >"$T_TMP/rcv2.sorted"
is "$(cmp "$T_TMP/want" "$T_TMP/rcv2.sorted" >/dev/null 2>&1 && echo same ||
    diff "$T_TMP/want" "$T_TMP/rcv2.sorted" | head -5)" same \
    "delivering, killed + resumed: exactly replay's alerts delivered"
is "$(jq -r 'select(.status < 300) | "\(.body.rule) \(.body.eventID) \(.delivery_id)"' \
    "$R/received.jsonl" | sort -u | awk '{ print $1, $2 }' | uniq -d | head -3)" "" \
    "delivering, resumed: a repeat, if any, is the same delivery (same id)"
echo "# delivering, resumed: $(dups | wc -l) in flight at the kill sent twice"

# ---- progress on a terminal -------------------------------------------------------
if command -v script >/dev/null 2>&1; then
	script -qec "$SMTRAIL -c $T_TMP/bf.yaml $BF --dry-run --state $T_TMP/dry4 >/dev/null" \
	    /dev/null >"$T_TMP/tty.out" 2>&1
	like "$(tr '\r' '\n' <"$T_TMP/tty.out")" \
	    "^.*objects [0-9]+/1301, [0-9.]+ MB, [0-9]+ events/s, [0-9]+ alerts, ETA [0-9]+s" \
	    "on a terminal: a progress line on stderr"
else
	t_ok 1 "script(1) installed (for the terminal progress test)"
fi

# ---- usage ------------------------------------------------------------------------
st -c "$T_TMP/bf.yaml" backfill --bucket "$B"
is "$RC" 2 "no --since: usage"
st -c "$T_TMP/bf.yaml" backfill --bucket "$B" --since yesterday
is "$RC" 2 "a bad time: usage"
like "$ERR" "'yesterday' is not a time" "a bad time: said so"
st -c "$T_TMP/bf.yaml" backfill --bucket nosuchbucket --since 2026-11-03 --dry-run --state "$T_TMP/dry3"
is "$RC" 1 "no such bucket: exit 1"
like "$ERR" "listing: NoSuchBucket" "no such bucket: said so"
done_testing
