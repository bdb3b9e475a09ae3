#!/bin/sh
# smtrail spool list, retry and purge against the real daemon (moto with
# signature checking on, a real HTTP receiver): a destination failing for
# good (HTTP 404), then fixed; retry delivers a failed alert exactly once
# with the daemon running (a request it takes on its tick) and with it
# stopped (the command takes the lock; the next start sends it); purge
# removes only what it names; a reload that changes the destination retries
# its failed alerts, one that changes nothing does not; so does a start
# after the destination was changed while the daemon was stopped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-spool-trail work
echo 404 >"$T_TMP/status"
receiver_up --key "hook-secret-$$" --script-file "$T_TMP/status"
DEADLINE=3s write_config
moto put "$M" "$BUCKET" "$DEMO_KEY" "$DEMO_FILE" >/dev/null || bail "put"

sp() { st --config "$T_TMP/smtrail.yaml" spool "$@"; }
# accepted ID: how many 2xx POSTs carried delivery id ID:hook.
accepted() {
	jq -r --arg d "$1:hook" 'select(.status < 300 and .delivery_id == $d) | .status' \
	    "$R/received.jsonl" | wc -l
}
ok2xx() { jq -r 'select(.status < 300) | .status' "$R/received.jsonl" | wc -l; }
failed_ids() { sp list --failed --json; printf '%s\n' "$OUT" | jq -r .id | sort; }
id_of() { # id_of RULE: the failed alert of that rule
	sp list --failed --json
	printf '%s\n' "$OUT" | jq -r --arg r "$1" 'select(.rule == $r) | .id'
}

# Before any daemon: no spool yet, a clear error.
sp list
is "$RC" 1 "list without a spool: exit 1"
like "$ERR" "no spool here" "and says there is no spool"

daemon_up
publish "$DEMO_KEY"
wait_log "failed for good" 30
wait_until 20 sh -c "[ \$(grep -c 'failed for good' '$T_TMP/daemon.log') -ge $DEMO_N ]"
is "$(grep -c 'failed for good' "$T_TMP/daemon.log")" $DEMO_N "every alert failed for good (HTTP 404)"

# list
sp list --failed
is "$RC" 0 "list --failed: exit 0 with the daemon running"
is "$(printf '%s\n' "$OUT" | head -1 | awk '{print $1, $2, $3, $4}')" "ID RULE EVENT ID" "list: a header"
is "$(printf '%s\n' "$OUT" | tail -n +2 | wc -l)" $DEMO_N "list --failed: one line per failed alert"
like "$OUT" "^[0-9a-f]{32}  secret-deleted +demo-0006-0000-4000-8000-000000000000 +20[0-9-]+T[0-9:]+Z +[0-9]+s  hook=failed \(HTTP 404\)$" \
    "list: id, rule, eventID, created, age, destination state and its last error"
sp list --failed --json
is "$(printf '%s\n' "$OUT" | jq -r '"\(.rule) \(.eventID)"' | sort)" "$DEMO_ALERTS" \
    "list --json: the failed alerts, one JSON object per line"
is "$(printf '%s\n' "$OUT" | jq -r 'keys_unsorted | join(",")' | sort -u)" \
    "id,job,rule,eventID,eventName,severity,created,created_unix,age_s,destinations" \
    "list --json: the documented fields"
is "$(printf '%s\n' "$OUT" | jq -c '.destinations' | sort -u)" \
    '[{"name":"hook","state":"failed","error":"HTTP 404"}]' "list --json: per destination state and error"
sp list --pending
is "$OUT" "no pending alerts" "list --pending: nothing pending"
sp list --failed --pending
is "$RC" 2 "list --failed --pending: usage error"

# Clear errors.
sp retry 0123456789abcdef0123456789abcdef
is "$RC" 2 "retry of an unknown id: exit 2"
like "$ERR" "0123456789abcdef0123456789abcdef: no such alert in the spool" "and names it"
sp retry not-an-id
is "$RC" 2 "retry of a malformed id: exit 2"
like "$ERR" "'not-an-id' is not an alert id" "and says what an id is"
sp retry
is "$RC" 2 "retry without ids or --all-failed: exit 2"
sp purge
is "$RC" 2 "purge naming nothing: exit 2 (never everything)"
sp purge --older-than 3x
is "$RC" 2 "purge --older-than with a bad duration: exit 2"
like "$ERR" "--older-than '3x': not a duration" "and says so"
st --config "$T_TMP/smtrail.yaml" --state "$T_TMP/nope" spool list
is "$RC" 1 "an unreadable state directory: exit 1"
like "$ERR" "cannot read the state directory" "and says so"

# retry with the daemon running: exactly once, same delivery id.
echo 200 >"$T_TMP/status"
DEL=$(id_of secret-deleted)
like "$DEL" "^[0-9a-f]{32}$" "the failed secret-deleted alert has an id"
before=$(ok2xx)
sp retry "$DEL"
is "$RC" 0 "retry ID with the daemon running: exit 0"
like "$OUT" "^$DEL secret-deleted demo-0006-0000-4000-8000-000000000000: re-queued for hook$" \
    "retry: says what was re-queued"
like "$OUT" "the running daemon sends them now" "retry: and who sends it"
wait_until 20 sh -c "[ \$(jq -r 'select(.status < 300) | .status' '$R/received.jsonl' | wc -l) -ge $((before + 1)) ]"
sleep 2
is "$(accepted "$DEL")" 1 "retried with the daemon running: delivered exactly once"
is "$(ok2xx)" $((before + 1)) "and nothing else was sent"
is "$(jq -r 'select(.status < 300) | .body.rule' "$R/received.jsonl" | tail -1)" secret-deleted \
    "the critical secret-deleted alert arrived"
like "$(cat "$T_TMP/daemon.log")" "spool: request [0-9.]+-[0-9]+\.req: retry, status 0" \
    "the daemon logged the request"
is "$(failed_ids | grep -c "$DEL")" 0 "list --failed: no longer failed"
is "$(failed_ids | wc -l)" $((DEMO_N - 1)) "the others still failed"
sp retry "$DEL"
is "$RC" 2 "retry of a delivered (finished) alert: exit 2, unknown"

# purge with the daemon running: only what it names.
PUR=$(id_of replication-added)
sp purge --older-than 1h
is "$RC" 0 "purge --older-than 1h: exit 0"
is "$OUT" "nothing to purge" "purge --older-than 1h: nothing is that old"
is "$(failed_ids | wc -l)" $((DEMO_N - 1)) "and nothing was removed"
sp purge --older-than 1h "$PUR"
is "$RC" 1 "purge of a named alert newer than --older-than: exit 1"
like "$ERR" "$PUR replication-added .*: newer than --older-than, kept" "and says why"
sp purge "$PUR"
is "$RC" 0 "purge ID with the daemon running: exit 0"
like "$OUT" "^$PUR replication-added demo-0007-0000-4000-8000-000000000000: purged for hook$" \
    "purge: says what went"
is "$(failed_ids | grep -c "$PUR")" 0 "purge: the named alert is gone"
is "$(failed_ids | wc -l)" $((DEMO_N - 2)) "purge: every other failed alert is kept"

# A reload that changes nothing retries nothing.
kill -HUP "$DAEMON_PID"
wait_log "reloaded:" 10
sleep 2
is "$(ok2xx)" $((before + 1)) "SIGHUP without a change: no failed alert is retried"
is "$(failed_ids | wc -l)" $((DEMO_N - 2)) "they stay failed"

# retry with the daemon stopped: the command marks it pending; the next
# start sends it, once.
daemon_stop TERM
is "$STOP_RC" 0 "daemon stopped"
ROT=$(id_of rotation-failed)
TAG=$(id_of secret-tags-changed)
sp retry "$ROT"
is "$RC" 0 "retry ID with the daemon stopped: exit 0"
like "$OUT" "smtrail run sends them when it starts" "and says when it goes"
sp list --pending --json
is "$(printf '%s\n' "$OUT" | jq -r '"\(.id) \(.destinations[0].state) \(.destinations[0].error)"')" \
    "$ROT pending null" "list --pending: the retried alert is pending"
sp purge "$(printf '%s' "$TAG" | tr a-f A-F)"
is "$RC" 0 "purge ID (in capitals) with the daemon stopped: exit 0"
sp retry "$TAG"
is "$RC" 2 "a purged alert is gone: exit 2"
before=$(ok2xx)
daemon_up
wait_until 20 sh -c "[ \$(jq -r 'select(.status < 300) | .status' '$R/received.jsonl' | wc -l) -ge $((before + 1)) ]"
sleep 2
is "$(accepted "$ROT")" 1 "retried with the daemon stopped: delivered exactly once after the start"
is "$(ok2xx)" $((before + 1)) "and nothing else was sent (the purged one neither)"
is "$(failed_ids | wc -l)" $((DEMO_N - 4)) "the rest still failed"

# A reload that changes the destination retries its failed alerts.
before=$(ok2xx)
sed -i 's|/hook"|/hook-v2"|' "$T_TMP/smtrail.yaml"
kill -HUP "$DAEMON_PID"
wait_log "destination 'hook' changed: $((DEMO_N - 4)) failed delivery\(ies\) re-queued" 10
t_ok $? "SIGHUP with a changed destination: its failed alerts are re-queued"
wait_until 20 sh -c "[ \$(jq -r 'select(.status < 300) | .status' '$R/received.jsonl' | wc -l) -ge $((before + DEMO_N - 4)) ]"
sleep 2
is "$(ok2xx)" $((before + DEMO_N - 4)) "each delivered once"
is "$(jq -r 'select(.status < 300) | .delivery_id' "$R/received.jsonl" | sort | uniq -d)" "" \
    "no delivery id accepted twice"
sp list
is "$OUT" "the spool is empty" "list: nothing left"
sp retry --all-failed
is "$RC" 1 "retry --all-failed with nothing failed: exit 1"
like "$ERR" "nothing failed in the spool" "and says so"

# A destination fixed while the daemon is stopped: the start retries what
# failed with the old definition; a start without a change does not.
failed_event() { # failed_event EVENTID: its id, if it is failed
	sp list --failed --json
	printf '%s\n' "$OUT" | jq -r --arg e "$1" 'select(.eventID == $e) | .id'
}
has_failed() { [ -n "$(failed_event "$1")" ]; }
echo 404 >"$T_TMP/status"
trail late 1
publish_names late
wait_until 30 has_failed late-000001
LATE=$(failed_event late-000001)
like "$LATE" "^[0-9a-f]{32}$" "a new alert failed for good"
daemon_stop TERM
echo 200 >"$T_TMP/status"
before=$(ok2xx)
daemon_up
sleep 3
is "$(ok2xx)" "$before" "a start with the destination unchanged does not retry it"
is "$(failed_event late-000001)" "$LATE" "it stays failed"
daemon_stop TERM
sed -i 's|/hook-v2"|/hook-v3"|' "$T_TMP/smtrail.yaml"
daemon_up
wait_until 20 sh -c "[ \$(jq -r 'select(.status < 300) | .status' '$R/received.jsonl' | wc -l) -ge $((before + 1)) ]"
sleep 2
is "$(accepted "$LATE")" 1 "a start with the destination changed: delivered exactly once"
is "$(ok2xx)" $((before + 1)) "and nothing else"
like "$(cat "$T_TMP/daemon.log")" "spool: 1 failed delivery\(ies\) re-queued: their destination changed since they failed" \
    "the start says why"
unlike "$(cat "$T_TMP/daemon.log")" "hook-secret" "the HMAC key never reaches the log"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
