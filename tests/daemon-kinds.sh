#!/bin/sh
# Rules over time in `smtrail run` on moto (smtrail-rules(5), "KINDS"):
#  - a threshold window survives a restart, and an unchanged rule keeps it
#    across a SIGHUP while a changed one starts afresh;
#  - an expectation with no follow-up fires by the wall clock once the
#    daemon has caught up, also after a restart; one with a follow-up in
#    the same or a later file of a backlog does not, however late the files
#    are read (the backlog does not make it due early), nor do messages
#    an earlier process took and left invisible.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-kinds-trail work
receiver_up --key "hook-secret-$$"

cat >"$T_TMP/rules.yaml" <<'YAML'
rules:
  - id: thr
    match: {eventName: GetSecretValue, errorCode: {exists: true}}
    group_by: [principal]
    threshold: {count: 3, within: 1h}
  - id: stuck
    match: {eventName: RotationStarted}
    expect: {match: {eventName: RotationSucceeded}, within: 5s}
  - id: test-stuck
    match: {eventName: TestRotationStarted}
    expect: {match: {eventName: TestRotationSucceeded}, within: 20s}
  - id: dst
    match: {eventName: GetSecretValue, errorCode: null}
    group_by: [principal]
    distinct: {field: secretId, count: 3, within: 10m}
  - id: new
    match: {eventName: ListSecrets}
    group_by: [principal]
    first_seen: {learn: 1m}
YAML
# The daemon counts itself caught up only one visibility timeout after it
# started (messages an earlier process took are back by then): keep it short.
VISIBILITY=6s
RULES="$T_TMP/rules.yaml" write_config "windows: {late: 2s}"

# file NAME SPEC...: a log of crafted events (tests/mkrec.py), uploaded and
# announced.
file() {
	_fn=$1
	shift
	"$PY" "$TOP_SRCDIR/tests/mkrec.py" "$T_TMP/$_fn.json.gz" "$@" || bail "mkrec $_fn"
	moto put "$M" "$BUCKET" "$KEYP/$_fn.json.gz" "$T_TMP/$_fn.json.gz" >/dev/null ||
	    bail "put $_fn"
}
now() { date -u -d "${1:-now}" +%Y-%m-%dT%H:%M:%SZ; }
# settled: the queue drained and the daemon's state synced.
settled() { wait_queue_empty 30 && sleep 1; }
thr_alerts() { received | grep '^thr' | sort; }

daemon_up

# ---- 1. threshold, distinct and first_seen across a crash ----------------------
# The first file's windows are synced with its alerts before the message is
# deleted; kill -9 then, and the second file completes them.
file t1 "n=GetSecretValue,id=a1,p=ann,s=x,e=AccessDenied,t=09:00:00" \
    "n=GetSecretValue,id=a2,p=ann,s=x,e=AccessDenied,t=09:01:00" \
    "n=GetSecretValue,id=d1,p=dan,s=s1,t=09:00:00" \
    "n=GetSecretValue,id=d2,p=dan,s=s2,t=09:01:00" \
    "n=ListSecrets,id=n1,p=p1,t=09:00:00" \
    "n=ListSecrets,id=n2,p=p2,t=09:00:30"
publish_names t1
settled
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
daemon_up
file t2 "n=GetSecretValue,id=a3,p=ann,s=x,e=AccessDenied,t=09:02:00" \
    "n=GetSecretValue,id=d3,p=dan,s=s1,t=09:02:00" \
    "n=GetSecretValue,id=d4,p=dan,s=s3,t=09:03:00" \
    "n=ListSecrets,id=n3,p=p1,t=09:02:00" \
    "n=ListSecrets,id=n4,p=p3,t=09:02:00"
publish_names t2
wait_until 30 sh -c '[ "$(grep -c "\"new\"" "$0")" -ge 1 ]' "$R/received.jsonl"
is "$(received | grep '^dst\|^new' | sort)" "dst d4
new n4" "kill -9: distinct (s1, s2, then s1, s3) and first_seen (p1 learned) go on"
wait_until 30 sh -c '[ -n "$(jq -r "select(.body.rule == \"thr\") | .body.eventID" "$0")" ]' \
    "$R/received.jsonl"
is "$(thr_alerts)" "thr a3" "restart: 2 matches before it and 1 after make the threshold"
is "$(jq -c 'select(.body.rule == "thr") | .body.events' "$R/received.jsonl")" \
    '["a1","a2","a3"]' "restart: the alert lists the three events"

# ---- 2. SIGHUP: an unchanged rule keeps its window, a changed one not -----------
file h1 "n=GetSecretValue,id=b1,p=bob,s=x,e=AccessDenied,t=09:10:00" \
    "n=GetSecretValue,id=b2,p=bob,s=x,e=AccessDenied,t=09:11:00"
publish_names h1
settled
{ echo "# reloaded, same rules"; cat "$T_TMP/rules.yaml"; } >"$T_TMP/rules.new"
mv "$T_TMP/rules.new" "$T_TMP/rules.yaml"
kill -HUP "$DAEMON_PID"
wait_log "reloaded: 5 rules" 10 || bail "reload 1"
file h2 "n=GetSecretValue,id=b3,p=bob,s=x,e=AccessDenied,t=09:12:00"
publish_names h2
wait_until 30 sh -c '[ "$(grep -c "\"thr\"" "$0")" -ge 2 ]' "$R/received.jsonl"
is "$(thr_alerts)" "thr a3
thr b3" "SIGHUP with the rule unchanged: its window goes on"

file h3 "n=GetSecretValue,id=c1,p=cat,s=x,e=AccessDenied,t=09:20:00" \
    "n=GetSecretValue,id=c2,p=cat,s=x,e=AccessDenied,t=09:21:00"
publish_names h3
settled
sed 's/within: 1h/within: 2h/' "$T_TMP/rules.yaml" >"$T_TMP/rules.new"
mv "$T_TMP/rules.new" "$T_TMP/rules.yaml"
kill -HUP "$DAEMON_PID"
wait_until 10 sh -c '[ "$(grep -c "reloaded: 5 rules" "$0")" -ge 2 ]' "$T_TMP/daemon.log" ||
    bail "reload 2"
file h4 "n=GetSecretValue,id=c3,p=cat,s=x,e=AccessDenied,t=09:22:00"
publish_names h4
settled
sleep 2
is "$(thr_alerts)" "thr a3
thr b3" "SIGHUP with the rule changed: it starts afresh (2 + 1 is not 3)"

# ---- 3. expect: by the wall clock, after catching up ----------------------------
file e1 "n=RotationStarted,id=o1,s=arn/s1,t=$(now)" \
    "n=RotationStarted,id=o2,s=arn/s2,t=$(now)" \
    "n=RotationSucceeded,id=k2,s=arn/s2,t=$(now)"
publish_names e1
t0=$(date +%s)
wait_until 30 sh -c 'grep -q "\"o1\"" "$0"' "$R/received.jsonl"
t_ok $? "expect: no follow-up within 5s: the opening alert, with no later event"
waited=$(($(date +%s) - t0))
t_ok "$([ "$waited" -ge 5 ] && echo 0 || echo 1)" \
    "expect: not before its deadline plus the tolerance (${waited}s)"
sleep 2
is "$(received | grep '^stuck' | sort)" "stuck o1" "expect: the one met in the same file is quiet"

# Opened, then the daemon stops; it is overdue when the daemon comes back.
file e2 "n=RotationStarted,id=o3,s=arn/s3,t=$(now)"
publish_names e2
settled
daemon_stop TERM
is "$(received | grep -c '"o3"\|stuck o3')" 0 "restart: not due before the stop"
sleep 8
daemon_up
wait_until 30 sh -c 'grep -q "\"o3\"" "$0"' "$R/received.jsonl"
t_ok $? "restart: the expectation kept in the state fires after the restart"

# ---- 4. a backlog does not make expectations due early --------------------------
# Three test rotations start (within: 20s) and the daemon stops. While it is
# down, two of them finish 3 and 4 s after they started, in files that wait
# in the queue; it comes back after their deadlines have passed on the wall
# clock. It reads the backlog before the clock may make them due: only the
# one that never finished alerts.
t=$(date +%s)
at() { date -u -d "@$((t + $1))" +%Y-%m-%dT%H:%M:%SZ; }
file b1 "n=TestRotationStarted,id=o4,s=arn/s4,t=$(at 0)" \
    "n=TestRotationStarted,id=o5,s=arn/s5,t=$(at 0)" \
    "n=TestRotationStarted,id=o6,s=arn/s6,t=$(at 0)"
publish_names b1
wait_log "expectation opened.*event=o6" 15 || bail "b1"
daemon_stop TERM
is "$(received | grep -c '^test-stuck')" 0 "backlog: nothing due before the stop"
file b2 "n=TestRotationSucceeded,id=k4,s=arn/s4,t=$(at 3)"
file b3 "n=TestRotationSucceeded,id=k5,s=arn/s5,t=$(at 4)"
publish_names b2 b3
while [ "$(date +%s)" -le $((t + 25)) ]; do sleep 1; done
# Both files are taken as by a process that died having received them (or
# by the last long poll of the one stopped, answered after it left): they
# are invisible for 6 s when the daemon starts, and its first receives come
# back empty. Caught up only after a visibility timeout, it reads them first.
is "$(moto take "$M" "$SMTRAIL_QUEUE_URL" 6)" 2 "backlog: both files taken, invisible for 6s"
daemon_up
wait_until 30 sh -c 'grep -q "\"o6\"" "$0"' "$R/received.jsonl"
t_ok $? "backlog: the test rotation that never finished alerts once caught up"
sleep 2
is "$(received | grep '^test-stuck' | sort)" "test-stuck o6" \
    "backlog: follow-ups read from the backlog close their expectations"
is "$(metric smtrail_expectations_open)" 0 "metrics: no expectation left open"

# ---- 5. bounded state: eviction, counted ------------------------------------------
daemon_stop TERM
RULES="$T_TMP/rules.yaml" write_config "windows: {late: 2s, max_keys: 1000}"
daemon_up
# shellcheck disable=SC2046 # one argument per event
file many $(seq 1 1100 | awk '{ printf "n=ListSecrets,id=m%d,p=many%d,t=10:00:00\n", $1, $1 }')
publish_names many
settled
ev=$(metric smtrail_state_evicted_total)
keys=$(metric smtrail_state_keys)
t_ok "$([ "${ev:-0}" -ge 100 ] && echo 0 || echo 1)" \
    "max_keys 1000: 1100 first_seen keys evict at least 100 (metric: ${ev:-none})"
t_ok "$([ "${keys:-9999}" -le 1000 ] && echo 0 || echo 1)" \
    "max_keys 1000: the state holds at most 1000 keys (metric: ${keys:-none})"
like "$(cat "$T_TMP/daemon.log")" "evict" "the log says keys were evicted"

done_testing
