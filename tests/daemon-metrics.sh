#!/bin/sh
# /metrics and /healthz of a running daemon (smtrail(8), HEALTH and
# METRICS), against moto and the webhook receiver: the series the page
# shows are the ones the man page lists (names, types, labels); promtool
# finds the page clean; the alerting rules in contrib/prometheus pass
# `promtool check rules` and their unit tests; the Grafana dashboard is JSON
# whose every query names a series of the page. Then real values: the age
# of the oldest message of a receive, the spool's depth rising and falling
# back to 0 once delivered (read at scrape, not at the last spool write),
# /healthz 503 while every destination fails, the queue's backlog from
# GetQueueAttributes while receiving is paused, the lag histogram, reloads
# good and bad, receive errors by reason. promtool is required: CI installs
# Debian's prometheus package (tools/install-deps), so a missing one fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

PROM="$TOP_SRCDIR/contrib/prometheus"
DASH="$TOP_SRCDIR/contrib/grafana/smtrail.json"

# page FILE: the daemon's /metrics into FILE.
page() {
	_pp=$(sed -n 's/.*metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics.*/\1/p' \
	    "$T_TMP/daemon.log" | tail -1)
	curl -s "http://127.0.0.1:$_pp/metrics" >"$1"
}
# metric_is NAME VALUE: for wait_until.
metric_is() { [ "$(metric "$1")" = "$2" ]; }
# metric_ge NAME MIN: for wait_until.
metric_ge() { _mv=$(metric "$1"); [ -n "$_mv" ] && awk -v v="$_mv" -v m="$2" 'BEGIN { exit !(v >= m) }'; }
# ago SECONDS: a CloudTrail eventTime that long ago.
ago() { date -u -d "@$(($(date +%s) - $1))" +%Y-%m-%dT%H:%M:%SZ; }

# ---- static: the rules and the dashboard ----------------------------------
command -v promtool >/dev/null 2>&1
t_ok $? "promtool is installed (Debian: prometheus; tools/install-deps)"
out=$(promtool check rules "$PROM/smtrail-alerts.yaml" 2>&1)
t_ok $? "promtool check rules contrib/prometheus/smtrail-alerts.yaml"
like "$out" "SUCCESS: 9 rules found" "... nine alerting rules"
out=$(cd "$T_TMP" && promtool test rules "$PROM/smtrail-alerts.test.yaml" 2>&1)
t_ok $? "promtool test rules: the alerts' unit tests pass"
[ $? = 0 ] || printf '%s\n' "$out" | sed 's/^/# /' | head -30
jq -e '.panels | length > 0' "$DASH" >/dev/null
t_ok $? "the Grafana dashboard is JSON with panels"

# ---- the daemon ------------------------------------------------------------
moto_up smtrail-metrics-trail work
echo 500 >"$R/status"
receiver_up --script-file "$R/status"
cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: secret-deleted
    title: Secret scheduled for deletion
    severity: critical
    match: {eventName: DeleteSecret}
  - id: never-matches
    title: Never
    severity: info
    match: {eventName: NoSuchEventEver}
YAML
RULES="$T_TMP/rules.yaml" write_config "spool: {pause_at: 3}"
# Long polls of 10 s keep the latest receive's figures long enough to read;
# the queue is read every second, deliveries "failing" after 4 s.
sed -i -e 's/wait_time: 1s/wait_time: 10s/' \
    -e 's/^metrics: {listen: \(.*\)}$/metrics: {listen: \1, queue_interval: 1s, delivery_failing_after: 4s}/' \
    "$T_TMP/smtrail.yaml"
cp "$T_TMP/smtrail.yaml" "$T_TMP/smtrail.yaml.good"

# Five alerts in one message that waits in the queue 3 s before the start.
trail a 5 --start "$(ago 120)"
publish_names a
sleep 3
daemon_up

# The oldest message of the latest receive: the one sent 3 s before (the
# next receive, a 10 s long poll, has not ended yet).
wait_until 10 metric_is smtrail_messages_received_total 1 || bail "first receive"
age=$(metric smtrail_queue_oldest_message_age_seconds)
awk -v a="$age" 'BEGIN { exit !(a >= 3 && a < 60) }'
t_ok $? "the oldest message of the receive had waited 3 s or more ($age)"

page "$T_TMP/page0"
if command -v promtool >/dev/null 2>&1; then
	out=$(promtool check metrics <"$T_TMP/page0" 2>&1)
	rc=$?
else
	out="promtool missing" rc=1
fi
is "$rc:$out" "0:" "promtool check metrics: the page is clean"

# The page's families (name, type, label names) and the man page's.
fams() { # fams PAGE
	"$PY" - "$1" <<'PY'
import re, sys
types, labels = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        types[m.group(1)] = m.group(2)
        labels.setdefault(m.group(1), [])
        continue
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
    name, ls = m.group(1), m.group(2) or ""
    for suffix in ("_bucket", "_sum", "_count"):
        if name not in types and name.endswith(suffix) and name[:-len(suffix)] in types:
            name = name[:-len(suffix)]
    names = [n for n in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"', ls) if n != "le"]
    if names and names not in [labels[name]]:
        labels[name] = names
for n in sorted(types):
    print(n, types[n], ",".join(labels[n]))
PY
}
man_fams() {
	sed -n '/^\.Sh METRICS/,/^\.Sh /p' "$TOP_SRCDIR/man/smtrail.8" |
	    sed -n -E 's/^\.It Li (smtrail_[a-z_]+)( Ns Li \{([a-z,]+)\})? Pq ([a-z]+)$/\1 \4 \3/p' |
	    grep -v '^smtrail_lookup_' | sort # (with lookup only: daemon-lookup.sh)
}
fams "$T_TMP/page0" >"$T_TMP/fams.page"
man_fams >"$T_TMP/fams.man"
is "$(cat "$T_TMP/fams.page")" "$(cat "$T_TMP/fams.man")" \
    "the page's metrics are smtrail(8)'s METRICS: names, types, labels"
is "$(wc -l <"$T_TMP/fams.man")" 37 "... all 37 of them"

# Every metric the dashboard and the alerting rules name is on the page.
samples=$(grep -v '^#' "$T_TMP/page0" | sed -E 's/[{ ].*//' | sort -u)
missing=
for n in $(jq -r '[.. | objects | (.expr, .definition) | strings] | .[]' "$DASH" |
    grep -oE 'smtrail_[a-z_]+' | sort -u); do
	printf '%s\n' "$samples" | grep -qx "$n" || missing="$missing $n"
done
is "$missing" "" "every metric the dashboard's queries name exists"
missing=
for n in $(grep -E '^\s+expr:|^\s+(smtrail|sum|histogram|time)' "$PROM/smtrail-alerts.yaml" |
    grep -oE 'smtrail_[a-z_]+' | sort -u); do
	printf '%s\n' "$samples" | grep -qx "$n" || missing="$missing $n"
done
is "$missing" "" "every metric the alerting rules name exists"

# Build info and series at 0 from the start.
st version
ver=$(printf '%s\n' "$OUT" | sed -n 's/^smtrail \([^ ]*\).*/\1/p' | head -1)
infl=$(printf '%s\n' "$OUT" | sed -n 's/^inflater: //p')
kern=$(printf '%s\n' "$OUT" | sed -n 's/^scan kernel: //p')
like "$(grep '^smtrail_build_info' "$T_TMP/page0")" \
    "^smtrail_build_info\{version=\"$ver\",commit=\"[^\"]+\",inflater=\"$infl\",kernel=\"$kern\"\} 1$" \
    "smtrail_build_info: version, commit, inflater and kernel as 'version' says"
for s in credentials denied queue_missing throttled server_error timeout network protocol; do
	printf '%s\n' "smtrail_receive_errors_total{reason=\"$s\"} 0"
done >"$T_TMP/want"
is "$(grep '^smtrail_receive_errors_total' "$T_TMP/page0" | sort)" "$(sort "$T_TMP/want")" \
    "smtrail_receive_errors_total: every reason, at 0"
is "$(grep -c '^smtrail_messages_failed_total{reason="[a-z_]*"} 0$' "$T_TMP/page0")" 14 \
    "smtrail_messages_failed_total: all 14 reasons at 0"
is "$(grep '^smtrail_matches_total{rule="never-matches"}' "$T_TMP/page0")" \
    'smtrail_matches_total{rule="never-matches"} 0' "smtrail_matches_total: a rule that never matched, at 0"
is "$(grep -E '^smtrail_(config_reloads|alerts_failed)_total' "$T_TMP/page0")" \
    'smtrail_alerts_failed_total{destination="(none)"} 0
smtrail_alerts_failed_total{destination="hook"} 0
smtrail_config_reloads_total{result="failure"} 0
smtrail_config_reloads_total{result="success"} 0' \
    "reload and given-up counters: every label, at 0"
is "$(metric smtrail_config_last_reload_successful)" 1 "the start counts as a good load"
start_ts=$(metric smtrail_config_last_reload_success_timestamp_seconds)
now=$(date +%s)
awk -v t="$start_ts" -v n="$now" 'BEGIN { exit !(t > n - 60 && t <= n) }'
t_ok $? "the last good load's time is the start ($start_ts)"

# ---- the spool's depth, delivery failing ---------------------------------
wait_until 30 metric_is smtrail_alerts_spooled_total 5
t_ok $? "5 alerts spooled"
is "$(metric smtrail_spool_depth)" 5 "smtrail_spool_depth: 5 await delivery"
wait_until 20 healthz_is 503
t_ok $? "every destination failing for over 4 s: /healthz is 503"
like "$HZ_BODY" "^deliveries to every destination failing for [0-9]+ s \(metrics.delivery_failing_after 4 s\)$" \
    "... and says why ($HZ_BODY)"
metric_ge 'smtrail_delivery_attempts_failed_total{destination="hook"}' 1
t_ok $? "failed attempts are counted at once ($(metric 'smtrail_delivery_attempts_failed_total{destination="hook"}'))"
is "$(metric 'smtrail_alerts_failed_total{destination="hook"}')" 0 "none is given up yet"

# ---- the queue's backlog while receiving is paused (pause_at 3) -------------
wait_until 30 metric_is smtrail_receive_paused 1
t_ok $? "receiving pauses at spool.pause_at"
trail b1 1 --start "$(ago 120)"
trail b2 1 --start "$(ago 120)"
publish_names b1
publish_names b2
wait_until 15 metric_is 'smtrail_queue_messages{state="visible"}' 2
t_ok $? "smtrail_queue_messages{state=\"visible\"}: the 2 messages waiting"
is "$(metric 'smtrail_queue_messages{state="not_visible"}'):$(metric 'smtrail_queue_messages{state="delayed"}')" \
    "0:0" "none in flight, none delayed"
qt=$(metric smtrail_queue_attributes_timestamp_seconds)
awk -v t="$qt" -v n="$(date +%s)" 'BEGIN { exit !(t >= n - 5 && t <= n) }'
t_ok $? "the queue was read in the last seconds ($qt)"

# ---- the receiver recovers: everything delivered, depth back to 0 ---------------
echo 200 >"$R/status"
wait_until 120 metric_is 'smtrail_alerts_delivered_total{destination="hook"}' 7
t_ok $? "the receiver works again: all 7 alerts delivered"
is "$(received_sorted)" "$(expect_alerts a 5 b1 1 b2 1 | sort)" "the receiver got each once"
wait_until 5 metric_is smtrail_spool_depth 0
t_ok $? "smtrail_spool_depth falls to 0 once delivered"
is "$(metric smtrail_spool_failed_deliveries)" 0 "no failed delivery in the spool"
wait_until 10 healthz_is 200
t_ok $? "/healthz is 200 again"
is "$(metric smtrail_delivery_lag_seconds_count)" 7 "the lag histogram has the 7 deliveries"
lag_sum=$(metric smtrail_delivery_lag_seconds_sum)
awk -v s="$lag_sum" 'BEGIN { exit !(s / 7 >= 120 && s / 7 < 900) }'
t_ok $? "mean lag: at least the 120 s since eventTime ($lag_sum / 7)"
is "$(metric 'smtrail_delivery_lag_seconds_bucket{le="60"}')" 0 "none under 60 s"
wait_until 10 metric_is 'smtrail_queue_messages{state="visible"}' 0
t_ok $? "the queue's backlog is read as 0 again"

# ---- reloads ------------------------------------------------------------------
sleep 1
kill -HUP "$DAEMON_PID"
wait_log "reloaded: 2 rules" 10
t_ok $? "a good reload"
is "$(metric 'smtrail_config_reloads_total{result="success"}'):$(metric smtrail_config_last_reload_successful)" \
    "1:1" "counted as a success; the last one succeeded"
good_ts=$(metric smtrail_config_last_reload_success_timestamp_seconds)
awk -v t="$good_ts" -v s="$start_ts" 'BEGIN { exit !(t > s) }'
t_ok $? "its time is later than the start's ($good_ts > $start_ts)"
printf 'no_such_key: 1\n' >>"$T_TMP/smtrail.yaml"
kill -HUP "$DAEMON_PID"
wait_log "reload failed" 10
t_ok $? "a bad reload"
is "$(metric 'smtrail_config_reloads_total{result="failure"}'):$(metric smtrail_config_last_reload_successful)" \
    "1:0" "counted as a failure; the last one failed"
is "$(metric smtrail_config_last_reload_success_timestamp_seconds)" "$good_ts" \
    "the last good load's time stays"
cp "$T_TMP/smtrail.yaml.good" "$T_TMP/smtrail.yaml"
kill -HUP "$DAEMON_PID"
wait_until 10 metric_is 'smtrail_config_reloads_total{result="success"}' 2
t_ok $? "fixed: a second good reload"
is "$(metric smtrail_config_last_reload_successful)" 1 "the last one succeeded again"

page "$T_TMP/page1"
out=$(promtool check metrics <"$T_TMP/page1" 2>&1)
is "$?:$out" "0:" "promtool check metrics: clean with every kind of series in use"

# ---- receive errors by reason -------------------------------------------------
moto stop "$M" >/dev/null 2>&1
wait_until 60 metric_ge 'smtrail_receive_errors_total{reason="network"}' 1
t_ok $? "moto gone: receive errors counted as network"
is "$(grep -E '^smtrail_receive_errors_total' "$T_TMP/page1" | grep -vc ' 0$')" 0 \
    "(none before)"
wait_log "GetQueueAttributes failed" 20
t_ok $? "a failed GetQueueAttributes is logged"
is "$(log_lines 'GetQueueAttributes failed' | wc -l)" 1 "... once"

daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
