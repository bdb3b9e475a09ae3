#!/bin/sh
# A full disk under the state directory (tests/README, "Faults"): state_dir
# is a 512 KiB tmpfs the test fills. An alert that cannot be appended
# fails its message transiently (nothing deleted); a delivery outcome that
# cannot be written is held in memory and written once there is room, so
# a restart afterwards resends nothing; receiving pauses meanwhile and
# /healthz says why. Before all that, /healthz turns 503 as soon as the
# disk is full, nothing appended yet, and 200 once there is room again.
# Needs root to mount the tmpfs (CI runs as root).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

if ! mount -t tmpfs -o size=512k smtrail-test "$S" 2>"$T_TMP/mount.err"; then
	echo "ok 1 # SKIP tmpfs state_dir: cannot mount ($(cat "$T_TMP/mount.err"); root needed)"
	echo "1..1"
	exit 0
fi
TMPFS=$S
moto_up smtrail-disk-trail work
echo 500 >"$R/status"
receiver_up --script-file "$R/status" --key "hook-secret-$$"
VISIBILITY=5s write_config
daemon_up

fill() { dd if=/dev/zero of="$S/filler" bs=1k >/dev/null 2>&1; sync; }

# ---- 0. the disk fills while nothing is appended -----------------------------
# /healthz's probe (a page written to a scratch file every 5 s) sees it
# before any alert has to wait on it, and sees the room come back.
fill
wait_until 15 healthz_is 503
t_ok $? "disk full, nothing appended yet: /healthz is 503"
like "$HZ_BODY" "^the spool cannot be written: a test write to $S failed: No space left on device$" \
    "... and says why ($HZ_BODY)"
is "$(metric smtrail_spool_writable)" 0 "smtrail_spool_writable: 0"
rm -f "$S/filler"
wait_until 15 healthz_is 200
t_ok $? "room again: /healthz is 200"
is "$(metric smtrail_spool_writable)" 1 "smtrail_spool_writable: 1"

# 60 alerts spooled while the webhook fails.
trail d1 60
publish_names d1
wait_until 30 sh -c '[ "$(grep -c "alert spooled" "$0")" -ge 60 ]' "$T_TMP/daemon.log"
t_ok $? "60 alerts spooled"

# ---- 1. an alert that cannot be appended -------------------------------------
fill
trail d2 5
publish_names d2
wait_log "spool_write" 30
t_ok $? "disk full: appending fails the message as spool_write"
like "$(log_lines 'nothing deleted')" "spool_write: No space left on device" \
    "disk full: transient, nothing deleted"
wait_until 10 healthz_is 503
t_ok $? "disk full: /healthz is 503"
like "$HZ_BODY" "the spool cannot be written" "disk full: /healthz says why"

# ---- 2. outcomes that cannot be written ---------------------------------------
echo 200 >"$R/status"
wait_until 60 sh -c '[ "$(jq -r "select(.status < 300) | .body.eventID" "$0" | grep -c "^d1-")" -ge 60 ]' \
    "$R/received.jsonl"
is "$(received_sorted | grep ' d1-')" "$(expect_alerts d1 60 | sort)" "the 60 alerts are delivered"
wait_log "cannot write the outcome for 'hook' yet; it is held" 20
t_ok $? "outcomes that cannot be written are held (logged)"
healthz
like "$HZ_BODY" "the spool cannot be written: [0-9]+ delivery outcome\(s\) held in memory" \
    "held outcomes: /healthz is 503 and says so ($HZ)"
wait_log "receiving paused: the spool cannot be written" 10
t_ok $? "receiving pauses while the spool cannot be written"

# Room again: the held outcomes are written, receiving resumes, the failed
# message comes back and its five alerts arrive.
rm -f "$S/filler"
wait_until 20 healthz_is 200
t_ok $? "room again: /healthz is 200"
is "$(metric smtrail_spool_unwritten_outcomes)" 0 "no outcome is held any more"
wait_received 65 60
is "$(received_sorted)" "$(expect_alerts d1 60 d2 5 | sort)" \
    "the message that failed comes back: 65 alerts"

# ---- 3. a restart resends nothing ------------------------------------------------
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
daemon_up
sleep 3
unlike "$(cat "$T_TMP/daemon.log")" "resending [0-9]+ pending" \
    "after the restart nothing is pending"
canary canary1
t_ok $? "a canary sent afterwards arrives"
is "$(dups)" "" "no alert was delivered twice"
done_testing
