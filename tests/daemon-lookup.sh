#!/bin/sh
# The lookup source (issue 15): a lookup-only configuration against
# tests/lookupd.py (LookupEvents with botocore's signature check, pages,
# time ranges, 2 requests/s per region) delivers the alerts `smtrail
# replay` finds in the same records, never sends a region more than 2
# requests in any second (the server's counts), survives throttling, picks
# up events that show up late (inside lookup.overlap), and after a restart
# neither misses nor repeats an alert.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

L="$T_TMP/lookupd"
EV="$L/events.json"
mkdir -p "$L"
echo '[]' >"$EV"
AKID=AKIDLOOKUPTEST0000001
SECRET="lookup-secret-$$"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS \
    AWS_ENDPOINT_URL_S3 AWS_REGION AWS_DEFAULT_REGION AWS_ROLE_ARN \
    AWS_WEB_IDENTITY_TOKEN_FILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_CONFIG_FILE="$T_TMP/none" AWS_SHARED_CREDENTIALS_FILE="$T_TMP/none"
export AWS_EC2_METADATA_DISABLED=true

t_start "$L" "$PY" "$TOP_SRCDIR/tests/lookupd.py" "$L" --events "$EV" \
    --key "$AKID" --secret "$SECRET" || bail "lookupd start"
export AWS_ENDPOINT_URL_CLOUDTRAIL="http://127.0.0.1:$T_PORT"
receiver_up

NOW=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# add REGION NAME N START_EPOCH STEP: N DeleteSecret events NAME-00000i in
# REGION at START + (i-1) * STEP, added to what lookupd serves (and to
# $T_TMP/all.json, the same records for replay).
add() {
	"$PY" "$TOP_SRCDIR/tests/mktrail.py" "$T_TMP/$2.json" --plain \
	    --events "$3" --id-prefix "$2" --secret-prefix "$2" \
	    --start "$(iso "$4")" --step-seconds "$5" --noise 1 || bail "mktrail $2"
	jq --arg r "$1" '.Records | map(.awsRegion = $r)' "$T_TMP/$2.json" \
	    >"$T_TMP/$2.list" || bail "jq $2"
	jq -s 'add' "$EV" "$T_TMP/$2.list" >"$EV.tmp" && mv "$EV.tmp" "$EV" ||
	    bail "add $2"
}

# replay_of NAME...: the alerts `smtrail replay` (with state, as the daemon
# keeps it) finds in those records, in time order, as "rule eventID
# severity" lines.
replay_of() {
	_rs="$T_TMP/rstate.$$.$(date +%s%N)"
	for _n in "$@"; do cat "$T_TMP/$_n.list"; done |
	    jq -s 'add | sort_by(.eventTime) | {Records: .}' >"$T_TMP/replay.json"
	"$SMTRAIL" replay --rules "$TOP_SRCDIR/etc/smtrail/rules.yaml" \
	    --state "$_rs" "$T_TMP/replay.json" |
	    jq -r '"\(.rule) \(.eventID) \(.severity)"' | sort
	rm -rf "$_rs"
}

received_full() {
	[ -f "$R/received.jsonl" ] || return 0
	jq -r 'select(.status < 300) | .body | "\(.rule) \(.eventID) \(.severity)"' \
	    "$R/received.jsonl" | sort
}

# Over 2 requests within a second, for any region: the offending times.
too_fast() {
	jq -rs 'group_by(.region)[] | map(.t) | sort as $t
	    | range(0; ($t | length) - 2) as $i
	    | select($t[$i + 2] - $t[$i] <= 1.0) | "\($t[$i]) \($t[$i + 2])"' \
	    "$L/requests.jsonl"
}

cat >"$T_TMP/smtrail.yaml" <<YAML
lookup: {regions: [us-east-1, eu-west-1], interval: 2s, since: 2h, overlap: 10m}
rules: "$TOP_SRCDIR/etc/smtrail/rules.yaml"
state_dir: "$S"
metrics: {listen: "127.0.0.1:0"}
default_destinations: [hook]
destinations:
  hook: {type: webhook, url: "http://127.0.0.1:$RCV_PORT/hook", timeout: 2s}
YAML

# ---- 1. a backlog: pages, two regions, the time range ------------------------
add us-east-1 useast 300 $((NOW - 3600)) 10   # 6 pages, 2 feeds
add eu-west-1 euwest 30 $((NOW - 1800)) 30
add us-east-1 tooold 2 $((NOW - 3 * 3600)) 1  # before lookup.since
want=$(replay_of useast euwest)
is "$(printf '%s\n' "$want" | wc -l)" 330 "replay finds 330 alerts in the records"

"$SMTRAIL" --config "$T_TMP/smtrail.yaml" check >"$T_TMP/check.out" 2>&1
is "$?" 0 "check: a lookup-only configuration is runnable"
: >>"$T_TMP/daemon.log"
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" --log-level info \
    run >>"$T_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_log "ready: receiving from CloudTrail LookupEvents in us-east-1, eu-west-1" 30
t_ok $? "ready: the lookup says so"
wait_until 60 at_least 330 received_full
is "$(received_full)" "$want" "backlog: the alerts replay finds, each once"
is "$(grep -c '"forbidden"' "$L/requests.jsonl")" 0 \
    "every request's signature checked out (botocore)"
like "$(jq -r 'select(.token) | .region' "$L/requests.jsonl" | sort -u | tr '\n' ' ')" \
    "us-east-1" "pages followed with NextToken"
is "$(metric 'smtrail_lookup_requests_total{region="us-east-1",result="ok"}' | awk '$1 >= 3 { print "ok" }')" \
    ok "metrics: smtrail_lookup_requests_total{region,result}"
ok_ts=$(metric 'smtrail_lookup_last_success_timestamp_seconds{region="eu-west-1"}')
is "$(awk -v t="$ok_ts" -v n="$NOW" 'BEGIN { print (t >= n) ? "ok" : t }')" ok \
    "metrics: the last success time"
test -s "$S/lookup-us-east-1.json" && test -s "$S/lookup-eu-west-1.json"
t_ok $? "a checkpoint per region in state_dir"
_mp=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' "$T_TMP/daemon.log" | tail -1)
page=$(curl -s "http://127.0.0.1:$_mp/metrics" |
    sed -n -E 's/^# TYPE (smtrail_lookup_[a-z_]+) ([a-z]+)$/\1 \2/p' | sort)
man=$(sed -n '/^\.Sh METRICS/,/^\.Sh /p' "$TOP_SRCDIR/man/smtrail.8" |
    sed -n -E 's/^\.It Li (smtrail_lookup_[a-z_]+)( Ns Li \{([a-z,]+)\})? Pq ([a-z]+)$/\1 \4/p' | sort)
is "$page" "$man" "metrics: the lookup series are smtrail(8)'s"
is "$(printf '%s\n' "$page" | grep -c .)" 3 "... all 3 of them"

# ---- 2. late events (inside the overlap) and throttling ---------------------
echo 4 >"$L/throttle"
add us-east-1 late 3 $(($(date -u +%s) - 300)) 1   # visible 5 min late
add eu-west-1 fresh 5 $(($(date -u +%s) - 10)) 1
want=$(replay_of useast euwest late fresh)
wait_until 60 at_least 338 received_full
is "$(received_full)" "$want" "late and throttled: every alert, each once"
is "$(jq -r 'select(.result == "throttled") | .result' "$L/requests.jsonl" | wc -l | tr -d ' ')" \
    4 "the server throttled 4 requests"
like "$(log_lines 'LookupEvents failed')" "ThrottlingException" \
    "throttling logged, then retried"
healthz
is "$HZ" 200 "/healthz: 200 after throttling"

# ---- 3. a restart: nothing missed, nothing repeated ----------------------------
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: a clean stop"
add us-east-1 gap 4 $(($(date -u +%s) - 120)) 1    # while it was down
add eu-west-1 gaplate 2 $(($(date -u +%s) - 400)) 1  # down and late
want=$(replay_of useast euwest late fresh gap gaplate)
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" --log-level info \
    run >>"$T_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_until 60 at_least 344 received_full
sleep 5 # a few more windows: anything repeated would show
is "$(received_full)" "$want" "restart: the events of the gap, nothing again"
is "$(dups)" "" "restart: no alert twice"
is "$(too_fast)" "" "never over 2 requests in a second per region (server's count)"

daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: a clean stop again"
unlike "$(cat "$T_TMP/daemon.log")" "$SECRET" "the secret key is in no log line"
done_testing
