#!/bin/sh
# The test tools themselves: tests/s3proxy.py in front of a real moto (checking
# on) forwards signed requests byte for byte and injects each fault it offers;
# tests/receiver.py's --delay, --script-file, t0 and delivery_id; tests/mktrail.py
# writes valid, deterministic CloudTrail files.
#
# What moto 5.2.1 does with `..` in S3 keys (found here, asserted below): nothing.
# It neither normalises the request path nor the stored key: `AWSLogs/../x.json.gz`,
# `dots/../x.json.gz` and `x.json.gz` are three objects. Its SigV4 check uses
# the path as sent, so botocore's signature (which signs `..` literally) verifies,
# also through the proxy (moto takes a Host that is not its own port). A request
# signed for `/B/AWSLogs/../x.json.gz` but sent as `/B/x.json.gz` (what a
# normalising client or proxy would do) gets 403 SignatureDoesNotMatch. Dots sent
# percent-encoded (`%2E%2E`) get 403 even when signed as sent: moto decodes the
# path before it rebuilds the canonical request (as for + = % in tests/aws.sh).
. "$(dirname "$0")/lib.sh"
# The interpreter itself, not a pyenv shim (~0.4 s a call).
PYTHON=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
. "$(dirname "$0")/daemon-lib.sh"
mkdir -p "$P"
trap 'exit 1' HUP INT TERM  # so that the EXIT trap runs on these too
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN
NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export NO_PROXY no_proxy

mktrail() { "$PY" "$TOP_SRCDIR/tests/mktrail.py" "$@"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# logged N FILTER: jq FILTER on the proxy's N-th last logged request.
logged() { tail -n "$1" "$P/requests.jsonl" | head -n 1 | jq -r "$2"; }

# s3get ENDPOINT KEY...: one signed GetObject per key (boto3, one attempt, path
# style); a line per key: "200 - SHA256 SECONDS" or "STATUS CODE - SECONDS", or
# "ERR ExceptionName - SECONDS" when no answer came.
cat >"$T_TMP/s3get.py" <<'EOF'
import hashlib, os, sys, time
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
c = boto3.session.Session().client(
    "s3", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                  read_timeout=20, s3={"addressing_style": "path"}))
for key in sys.argv[3:]:
    t = time.monotonic()
    try:
        body = c.get_object(Bucket=sys.argv[2], Key=key)["Body"].read()
        out = "200 - " + hashlib.sha256(body).hexdigest()
    except ClientError as e:
        out = "%s %s -" % (e.response["ResponseMetadata"]["HTTPStatusCode"],
                           e.response["Error"].get("Code"))
    except BotoCoreError as e:
        out = "ERR %s -" % type(e).__name__
    print("%s %.3f" % (out, time.monotonic() - t), flush=True)
EOF
s3get() { "$PY" "$T_TMP/s3get.py" "$@" 2>&1; }

# rawget PORT SIGNED_PATH [SENT_PATH]: GET on 127.0.0.1:PORT signed (botocore
# SigV4, s3) for SIGNED_PATH, sent as SENT_PATH exactly; prints
# "STATUS CONTENT-LENGTH CONTENT-TYPE"; the body goes to $T_TMP/raw.body.
cat >"$T_TMP/rawget.py" <<'EOF'
import http.client, os, sys
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
port, signed = int(sys.argv[1]), sys.argv[2]
sent = sys.argv[3] if len(sys.argv) > 3 else signed
host = "127.0.0.1:%d" % port
req = AWSRequest(method="GET", url="http://%s%s" % (host, signed))
S3SigV4Auth(Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]),
            "s3", "us-east-1").add_auth(req)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.putrequest("GET", sent, skip_host=True, skip_accept_encoding=True)
c.putheader("Host", host)
for k, v in req.headers.items():
    c.putheader(k, v)
c.endheaders()
r = c.getresponse()
body = r.read()
open(os.path.join(os.environ["T_TMP"], "raw.body"), "wb").write(body)
print(r.status, r.getheader("Content-Length"), r.getheader("Content-Type"))
EOF
rawget() { T_TMP=$T_TMP "$PY" "$T_TMP/rawget.py" "$@" 2>&1; }

# ---- mktrail.py ----------------------------------------------------------
# Writes the files the S3 part below serves.
mktrail "$T_TMP/a.json.gz" --events 1000 --noise 2 --id-prefix selftest
is "$?" 0 "mktrail: exit 0"
mktrail "$T_TMP/a2.json.gz" --events 1000 --noise 2 --id-prefix selftest
is "$(sha "$T_TMP/a2.json.gz")" "$(sha "$T_TMP/a.json.gz")" "mktrail: deterministic (same sha256 twice)"
gzip -t "$T_TMP/a.json.gz" 2>/dev/null
t_ok $? "mktrail: a valid gzip file"
is "$(od -An -tx1 -j4 -N4 "$T_TMP/a.json.gz" | tr -d ' ')" 00000000 "mktrail: gzip mtime 0"
is "$(gzip -dc "$T_TMP/a.json.gz" | jq -c '[(.Records | length),
	([.Records[] | select(.eventSource == "secretsmanager.amazonaws.com")] | length),
	([.Records[].eventID] | unique | length)]')" "[3000,1000,3000]" \
    "mktrail: 3000 records, exactly 1000 of Secrets Manager, eventIDs unique"
is "$(gzip -dc "$T_TMP/a.json.gz" | jq -c '[.Records[]
	| select(.eventSource == "secretsmanager.amazonaws.com")]
	| [.[0].eventID, .[-1].eventID, .[0].eventTime, .[-1].eventTime, .[-1].eventName,
	   .[-1].responseElements.arn, (map(.readOnly) | unique), (map(has("errorCode")) | unique)]')" \
    '["selftest-000001","selftest-001000","2026-11-25T09:10:00Z","2026-11-25T09:26:39Z","DeleteSecret","arn:aws:secretsmanager:us-east-1:123456789012:secret:mktrail-secret-1000",[false],[false]]' \
    "mktrail: eventIDs, times, ARNs, readOnly false, no errorCode"
is "$(gzip -dc "$T_TMP/a.json.gz" | jq -r '.Records[0:4][] | .eventSource' | tr '\n' ' ')" \
    "secretsmanager.amazonaws.com ec2.amazonaws.com ec2.amazonaws.com secretsmanager.amazonaws.com " \
    "mktrail: --noise 2 interleaves two EC2 records after each"
mktrail "$T_TMP/b.json" --plain --events 3 --id-prefix p --event-name GetSecretValue \
    --start 2026-01-31T23:59:59Z --step-seconds 60 --secret-prefix db
is "$(jq -c '[.Records[] | [.eventID, .eventName, .eventTime, .responseElements.arn]]' "$T_TMP/b.json")" \
    '[["p-000001","GetSecretValue","2026-01-31T23:59:59Z","arn:aws:secretsmanager:us-east-1:123456789012:secret:db-1"],["p-000002","GetSecretValue","2026-02-01T00:00:59Z","arn:aws:secretsmanager:us-east-1:123456789012:secret:db-2"],["p-000003","GetSecretValue","2026-02-01T00:01:59Z","arn:aws:secretsmanager:us-east-1:123456789012:secret:db-3"]]' \
    "mktrail: --plain --event-name --start --step-seconds --secret-prefix"
mktrail "$T_TMP/c.json.gz" --events 2 --id-prefix dots
printf 'not the object you want\n' >"$T_TMP/x"

# ---- moto and s3proxy.py -------------------------------------------------
moto start "$M" 2>"$T_TMP/moto.err" || bail "moto start: $(cat "$T_TMP/moto.err")"
moto setup "$M" --bucket smtrail-infra --queue q >/dev/null || bail "moto setup"
. "$M/env"
B=smtrail-infra
K1=AWSLogs/../x.json.gz
K2=dots/../x.json.gz
K3="dir with space/x~y/a b.json"
moto put "$M" $B "$K1" "$T_TMP/a.json.gz" || bail "put $K1"
moto put "$M" $B "$K2" "$T_TMP/c.json.gz" || bail "put $K2"
moto put "$M" $B "$K3" "$T_TMP/b.json" || bail "put $K3"
moto put "$M" $B x.json.gz "$T_TMP/x" || bail "put x.json.gz"

t_start "$P" "$PY" "$TOP_SRCDIR/tests/s3proxy.py" "$P" --upstream "$MOTO_ENDPOINT" \
    2>"$T_TMP/proxy.err" || bail "s3proxy start"
PORT=$T_PORT
PROXY_PID=$T_LAST_PID
PROXY=http://127.0.0.1:$PORT
like "$PORT" '^[0-9]+$' "s3proxy: DIR/port has the port"

# pass: through the proxy, signed by botocore with the proxy as endpoint.
out=$(s3get "$PROXY" $B "$K1" "$K2" "$K3" x.json.gz)
is "$(printf '%s\n' "$out" | cut -d' ' -f1-3)" "200 - $(sha "$T_TMP/a.json.gz")
200 - $(sha "$T_TMP/c.json.gz")
200 - $(sha "$T_TMP/b.json")
200 - $(sha "$T_TMP/x")" "pass: 200 and the exact bytes of each object, .. keys included"
is "$(tail -n 4 "$P/requests.jsonl" | jq -r '"\(.method) \(.path) \(.mode) \(.status)"')" \
    "GET /$B/AWSLogs/../x.json.gz pass 200
GET /$B/dots/../x.json.gz pass 200
GET /$B/dir%20with%20space/x~y/a%20b.json pass 200
GET /$B/x.json.gz pass 200" "pass: the raw paths are logged as sent"
grep -qF "\"GET /$B/AWSLogs/../x.json.gz HTTP/1.1\" 200" "$M/moto.log"
t_ok $? "pass: moto got the path unnormalised"
# moto itself, with and without the proxy (see the top of this file).
is "$(rawget "$MOTO_PORT" "/$B/$K1")" "200 $(wc -c <"$T_TMP/a.json.gz") application/octet-stream" \
    "moto: a .. path signed as sent verifies"
is "$(rawget "$MOTO_PORT" "/$B/$K1" "/$B/x.json.gz" | cut -d' ' -f1)" 403 \
    "moto: signed for the .. path, sent normalised: 403"
grep -q '<Code>SignatureDoesNotMatch</Code>' "$T_TMP/raw.body"
t_ok $? "moto: ... SignatureDoesNotMatch"
is "$(rawget "$MOTO_PORT" "/$B/AWSLogs/%2E%2E/x.json.gz" | cut -d' ' -f1)" 403 \
    "moto: %2E%2E signed as sent: 403 (moto decodes before it checks)"
is "$(rawget "$PORT" "/$B/$K2")" "200 $(wc -c <"$T_TMP/c.json.gz") application/octet-stream" \
    "pass: a .. path signed as sent verifies through the proxy"
cmp -s "$T_TMP/raw.body" "$T_TMP/c.json.gz"
t_ok $? "pass: ... with the exact bytes"
is "$(rawget "$PORT" "/$B/$K1" "/$B/x.json.gz" | cut -d' ' -f1)" 403 \
    "pass: the proxy forwards a tampered path as is (403)"
like "$(AWS_SECRET_ACCESS_KEY=wrong s3get "$PROXY" $B "$K1")" '^403 SignatureDoesNotMatch ' \
    "pass: checking still on through the proxy (wrong secret, 403)"
# Connections: moto closes after each answer, and so the proxy; the proxy's own
# answers keep the client's connection open.
# (Unsigned, so moto refuses them; only the connections count here.)
is "$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$PROXY/$B/a" "$PROXY/$B/b")" \
    "1
1" "pass: moto's Connection: close is relayed; curl reconnects"

setmode 503
is "$(rawget "$PORT" "/$B/$K1")" "503 0 None" "503: status 503, Content-Length: 0, no Content-Type"
is "$(wc -c <"$T_TMP/raw.body")" 0 "503: empty body"
like "$(s3get "$PROXY" $B "$K1")" '^503 503 ' "503: botocore sees a bare 503"
is "$(logged 1 '"\(.mode) \(.status)"')" "503 503" "503: logged"
is "$(curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' "$PROXY/$B/a" "$PROXY/$B/b")" \
    "503 1
503 0" "503: a second request on the same connection is served"

setmode slowdown
is "$(rawget "$PORT" "/$B/$K1" | cut -d' ' -f1,3)" "503 application/xml" "slowdown: 503, application/xml"
like "$(cat "$T_TMP/raw.body")" '^<\?xml version="1.0" encoding="UTF-8"\?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>[0-9A-F]+</RequestId></Error>$' \
    "slowdown: S3's SlowDown error body"
like "$(s3get "$PROXY" $B "$K1")" '^503 SlowDown ' "slowdown: botocore sees SlowDown"
is "$(logged 1 '"\(.mode) \(.status)"')" "slowdown 503" "slowdown: logged"

setmode "503 dots/"
out=$(s3get "$PROXY" $B "$K2" "$K1" | cut -d' ' -f1-2)
is "$out" "503 503
200 -" "503 SUBSTRING: only the matching key fails"
is "$(tail -n 2 "$P/requests.jsonl" | jq -r '"\(.path) \(.mode)"')" "/$B/$K2 503
/$B/$K1 pass" "503 SUBSTRING: logged per request"

setmode reset
like "$(s3get "$PROXY" $B "$K1")" '^ERR ' "reset: the client gets no answer"
is "$(logged 1 '"\(.mode) \(.status)"')" "reset null" "reset: logged with status null"

setmode hold
s3get "$PROXY" $B "$K1" >"$T_TMP/held.out" &
HELD=$!
wait_until 10 grep -qx 1 "$P/holding"
t_ok $? "hold: the request is held (DIR/holding is 1)"
sleep 1
is "$(cat "$T_TMP/held.out")" "" "hold: no answer while held (1 s)"
setmode pass
wait "$HELD"
out=$(cat "$T_TMP/held.out")
like "$out" "^200 - $(sha "$T_TMP/a.json.gz") " "hold, then pass: 200 and the bytes"
awk -v s="${out##* }" 'BEGIN { exit !(s >= 1.0) }'
t_ok $? "hold: the client waited >= 1 s (${out##* } s)"
is "$(logged 1 '"\(.mode) \(.status) \(.held >= 1)"')" "pass 200 true" "hold: logged with the time held"
is "$(cat "$P/holding")" 0 "hold: DIR/holding back to 0"

is "$(jq -c 'keys_unsorted' "$P/requests.jsonl" | sort -u)" '["t","method","path","mode","held","status"]' \
    "requests.jsonl: whole lines, every one with the same keys"
kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
is "$?" 0 "SIGTERM: s3proxy exits 0"
"$PY" -c 'import socket, sys
sys.exit(socket.socket().connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0)' "$PORT"
t_ok $? "SIGTERM: port $PORT is closed"

# ---- receiver.py -----------------------------------------------------------
# post PORT ID...: one POST per ID at the same time (a thread each), with
# X-Smtrail-Delivery-Id: ID ("-": none); prints the statuses, then the seconds.
cat >"$T_TMP/post.py" <<'EOF'
import http.client, json, sys, threading, time
port, ids = int(sys.argv[1]), sys.argv[2:]
res = [None] * len(ids)
def post(i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = {"Content-Type": "application/json"}
    if ids[i] != "-":
        hdrs["X-Smtrail-Delivery-Id"] = ids[i]
    c.request("POST", "/hook", body=json.dumps({"n": i}), headers=hdrs)
    r = c.getresponse()
    r.read()
    res[i] = r.status
t = time.monotonic()
th = [threading.Thread(target=post, args=(i,)) for i in range(len(ids))]
for x in th: x.start()
for x in th: x.join()
print(" ".join(map(str, res)), "%.3f" % (time.monotonic() - t))
EOF
post() { "$PY" "$T_TMP/post.py" "$@" 2>&1; }

t_start "$R" "$PY" "$TOP_SRCDIR/tests/receiver.py" "$R" --delay 0.3 \
    --script-file "$T_TMP/status" || bail "receiver start"
RP=$T_PORT
out=$(post "$RP" d-1 d-2)
like "$out" '^200 200 ' "--delay: both POSTs answered (no --script-file yet: 200)"
awk -v s="${out##* }" 'BEGIN { exit !(s >= 0.3 && s < 0.6) }'
t_ok $? "--delay 0.3: two POSTs at once took 0.3 to 0.6 s together (${out##* } s)"
is "$(jq -r '.t - .t0 >= 0.3' "$R/received.jsonl" | sort -u)" true "--delay: t - t0 >= 0.3 for each"
is "$(jq -r '.delivery_id' "$R/received.jsonl" | sort | tr '\n' ' ')" "d-1 d-2 " \
    "delivery_id: from X-Smtrail-Delivery-Id"
is "$(jq -c 'keys_unsorted' "$R/received.jsonl" | sort -u)" \
    '["status","body","sig_ok","t","t0","delivery_id"]' "received.jsonl: the old keys, then t0, delivery_id"
echo 500 >"$T_TMP/status"
is "$(post "$RP" -  | cut -d' ' -f1)" 500 "--script-file 500: answers 500"
is "$(tail -n 1 "$R/received.jsonl" | jq -c '[.status, .delivery_id]')" '[500,null]' \
    "--script-file: logged 500; no header, delivery_id null"
echo 200 >"$T_TMP/status"
is "$(post "$RP" d-3 | cut -d' ' -f1)" 200 "--script-file 200: the same receiver now answers 200"
echo nonsense >"$T_TMP/status"
is "$(post "$RP" d-4 | cut -d' ' -f1)" 200 "--script-file unreadable: 200"
done_testing
