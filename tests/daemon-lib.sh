# tests/daemon-lib.sh: moto, a webhook receiver and `smtrail run` for the
# daemon tests (sourced after lib.sh). Everything started is stopped by the
# EXIT trap; nothing is left running.
PY=${PYTHON:-python3}
M="$T_TMP/moto"
R="$T_TMP/rcv"
S="$T_TMP/state"
mkdir -p "$M" "$R" "$S"
DAEMON_PID=
RCV_PID=
P="$T_TMP/proxy"

moto() { "$PY" "$TOP_SRCDIR/tests/moto.py" "$@"; }

cleanup() {
	# A failure shows the end of the daemon's log (sanitizer reports too).
	if [ "$T_FAILED" != 0 ] && [ -f "$T_TMP/daemon.log" ]; then
		tail -60 "$T_TMP/daemon.log" | sed 's/^/# daemon.log: /'
	fi
	[ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null
	[ -n "$RCV_PID" ] && kill "$RCV_PID" 2>/dev/null
	[ -n "${TMPFS:-}" ] && umount -l "$TMPFS" 2>/dev/null
	moto stop "$M" >/dev/null 2>&1
	t_cleanup
}
trap cleanup EXIT

# A setup failure is one failed assertion, with the logs, then the end.
bail() {
	t_ok 1 "setup: $1"
	for f in "$M/moto.log" "$T_TMP/daemon.log" "$T_TMP/proxy.err"; do
		[ -f "$f" ] && tail -20 "$f" | sed "s|^|# $(basename "$f"): |"
	done
	done_testing
}

moto_up() { # moto_up BUCKET QUEUE: checked moto, bucket, queue, SNS topic
	moto start "$M" 2>/dev/null || bail "moto start"
	moto setup "$M" --bucket "$1" --queue "$2" --topic "$2-topic" >/dev/null ||
	    bail "moto setup"
	. "$M/env"
	BUCKET=$1
}

receiver_up() { # receiver_up [receiver.py options]: (re)starts it
	receiver_down
	t_start "$R" "$PY" "$TOP_SRCDIR/tests/receiver.py" "$R" "$@" ||
	    bail "receiver start"
	RCV_PID=$T_LAST_PID
	RCV_PORT=$T_PORT
}

receiver_down() {
	[ -n "$RCV_PID" ] && kill "$RCV_PID" 2>/dev/null && wait "$RCV_PID" 2>/dev/null
	RCV_PID=
}

# write_config [extra YAML appended]: a config for moto and the receiver.
write_config() {
	printf '%s' "hook-secret-$$" >"$T_TMP/hook.key"
	chmod 600 "$T_TMP/hook.key"
	cat >"$T_TMP/smtrail.yaml" <<YAML
aws: {region: us-east-1, endpoint_url: "$MOTO_ENDPOINT"${AWS_EXTRA:+, $AWS_EXTRA}}
sqs: {queue_url: "$SMTRAIL_QUEUE_URL", wait_time: 1s, visibility_timeout: ${VISIBILITY:-30s},
      max_receive_count: ${MAX_RECEIVE:-0}}
s3: {allowed_buckets: [$BUCKET]}
sns: {verify_signatures: ${VERIFY:-false}${CERT_PATTERN:+, cert_url_pattern: '$CERT_PATTERN'}${TOPICS:+, topic_arns: [$TOPICS]}${SNS_EXTRA:+, $SNS_EXTRA}}
rules: "${RULES:-$TOP_SRCDIR/etc/smtrail/rules.yaml}"
state_dir: "$S"
metrics: {listen: "127.0.0.1:${METRICS_PORT:-0}"}
default_destinations: [hook]
destinations:
  hook: {type: webhook, url: "http://127.0.0.1:${RCV_PORT:-1}/hook", hmac_secret_file: "$T_TMP/hook.key",
         timeout: ${HOOK_TIMEOUT:-2s}, deadline: ${DEADLINE:-1h}}
$1
YAML
}

daemon_up() { # daemon_up: starts `smtrail run`, waits for "ready"
	: >>"$T_TMP/daemon.log"
	"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" \
	    --log-level info run >>"$T_TMP/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_log "ready: receiving" 30 || bail "daemon ready"
}

# wait_log PATTERN SECONDS: until daemon.log has PATTERN (grep -E).
wait_log() {
	_wl_i=0
	while [ $_wl_i -lt $(($2 * 10)) ]; do
		grep -Eq -- "$1" "$T_TMP/daemon.log" 2>/dev/null && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || return 1
		sleep 0.1
		_wl_i=$((_wl_i + 1))
	done
	return 1
}

# received: the receiver's accepted (2xx) alerts as "rule eventID" lines.
received() {
	[ -f "$R/received.jsonl" ] || return 0
	jq -r 'select(.status < 300) | .body | "\(.rule) \(.eventID)"' "$R/received.jsonl"
}

# wait_received N SECONDS: until N alerts were accepted.
wait_received() { wait_until "$2" at_least "$1" received; }

# queue_counts: "visible=N inflight=M" for the work queue.
queue_counts() { moto receive "$M" "$SMTRAIL_QUEUE_URL"; }

# wait_queue_empty SECONDS
wait_queue_empty() {
	_wq_i=0
	while [ $_wq_i -lt "$1" ]; do
		[ "$(queue_counts)" = "visible=0 inflight=0" ] && return 0
		sleep 1
		_wq_i=$((_wq_i + 1))
	done
	return 1
}

# publish KEY...: CloudTrail's notification for the keys, through SNS.
publish() {
	moto cloudtrail-message "$BUCKET" "$@" >"$T_TMP/msg.json"
	moto publish "$M" "$SMTRAIL_TOPIC_ARN" "$T_TMP/msg.json" >/dev/null || bail "publish"
}

# send FILE: a raw SQS message body.
send_body() { moto send "$M" "$SMTRAIL_QUEUE_URL" "$1" >/dev/null || bail "send"; }

# metric NAME{LABELS}: its value from /metrics (empty if absent).
metric() {
	port=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' "$T_TMP/daemon.log" | tail -1)
	curl -s "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

daemon_stop() { # daemon_stop SIGNAL: sends it, waits; sets STOP_RC, STOP_SECS
	start=$(date +%s)
	kill -"$1" "$DAEMON_PID"
	wait "$DAEMON_PID"
	STOP_RC=$?
	STOP_SECS=$(($(date +%s) - start))
	DAEMON_PID=
}

DEMO_KEY="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25/123456789012_CloudTrail_us-east-1_20261125T0910Z_demo0001.json.gz"
DEMO_FILE="$TOP_SRCDIR/tests/data/demo/123456789012_CloudTrail_us-east-1_20261125T0910Z_demo0001.json.gz"
DEMO_ALERTS="replication-added demo-0007-0000-4000-8000-000000000000
resource-policy-changed demo-0005-0000-4000-8000-000000000000
resource-policy-public demo-0005-0000-4000-8000-000000000000
rotation-failed demo-0004-0000-4000-8000-000000000000
secret-deleted demo-0006-0000-4000-8000-000000000000
secret-read-denied demo-0002-0000-4000-8000-000000000000
secret-tags-changed demo-0008-0000-4000-8000-000000000000"
DEMO_N=7 # how many

# ---- faults ---------------------------------------------------------------

KEYP="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/25"

# proxy_up: tests/s3proxy.py in front of moto's S3; the daemon started
# after this fetches through it (AWS_ENDPOINT_URL_S3), SQS stays on moto.
proxy_up() {
	t_start "$P" "$PY" "$TOP_SRCDIR/tests/s3proxy.py" "$P" \
	    --upstream "$MOTO_ENDPOINT" 2>"$T_TMP/proxy.err" || bail "s3proxy start"
	AWS_ENDPOINT_URL_S3="http://127.0.0.1:$T_PORT"
	export AWS_ENDPOINT_URL_S3
}

# setmode TEXT: the proxy's fault mode (tests/s3proxy.py), atomically.
setmode() { printf '%s\n' "$1" >"$P/mode.tmp" && mv "$P/mode.tmp" "$P/mode"; }

# trail NAME N [mktrail options]: a gzipped log with N DeleteSecret events
# (eventIDs NAME-000001...), uploaded as $KEYP/NAME.json.gz.
trail() {
	_tn=$1 _tc=$2
	shift 2
	"$PY" "$TOP_SRCDIR/tests/mktrail.py" "$T_TMP/$_tn.json.gz" --events "$_tc" \
	    --id-prefix "$_tn" --secret-prefix "$_tn" "$@" || bail "mktrail $_tn"
	moto put "$M" "$BUCKET" "$KEYP/$_tn.json.gz" "$T_TMP/$_tn.json.gz" >/dev/null ||
	    bail "put $_tn"
}

# publish_names NAME...: one CloudTrail notification per $KEYP/NAME.json.gz.
publish_names() {
	_pk=
	for _n in "$@"; do _pk="$_pk $KEYP/$_n.json.gz"; done
	# shellcheck disable=SC2086
	moto publish-keys "$M" "$SMTRAIL_TOPIC_ARN" "$BUCKET" $_pk || bail "publish"
}

# expect_alerts NAME N...: the "rule eventID" lines trail NAME N gives.
expect_alerts() {
	while [ $# -ge 2 ]; do
		seq 1 "$2" | awk -v n="$1" '{ printf "secret-deleted %s-%06d\n", n, $1 }'
		shift 2
	done
}

# received_sorted: the accepted alerts, sorted; dups: the repeated ones.
received_sorted() { received | sort; }
dups() { received | sort | uniq -d; }

# healthz: HZ (the status code) and HZ_BODY from the daemon's /healthz.
healthz() {
	_hp=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' \
	    "$T_TMP/daemon.log" | tail -1)
	HZ=$(curl -s -o "$T_TMP/hz" -w '%{http_code}' "http://127.0.0.1:$_hp/healthz")
	HZ_BODY=$(cat "$T_TMP/hz" 2>/dev/null)
}
# healthz_is CODE: for wait_until.
healthz_is() { healthz; [ "$HZ" = "$1" ]; }

# has_alert EVENTID: the receiver accepted secret-deleted EVENTID.
has_alert() { received | grep -qx "secret-deleted $1"; }

# canary NAME [SECONDS]: a fresh one-event file through SNS arrives.
canary() {
	trail "$1" 1
	publish_names "$1"
	wait_until "${2:-30}" has_alert "$1-000001"
}
