#!/bin/sh
# Backpressure (tests/README, "Faults"): receiving pauses while too many
# alerts await delivery and resumes when the sinks catch up; a full spool
# is a transient failure of ours, never the object's (nothing deleted,
# nothing lost, even at max_receive_count 1); a destination that answers
# 2xx again gets its waiting deliveries at once. The limits are lowered
# through the configuration (spool.max_pending 40, spool.pause_at 20):
# the same code paths as at 100,000 and 50,000.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-bp-trail work
echo 500 >"$R/status"
receiver_up --script-file "$R/status" --key "hook-secret-$$"
VISIBILITY=5s MAX_RECEIVE=1 write_config "spool: {max_pending: 40, pause_at: 20}"
daemon_up

# ---- 1. pending alerts pause receiving; deliveries resume it ----------------
trail p1 25
publish_names p1
wait_log "receiving paused: 2[0-9] alerts await delivery \(spool.pause_at 20\)" 30
t_ok $? "25 alerts pending (webhook failing): receiving pauses"
trail p2 1
publish_names p2
sleep 4
is "$(queue_counts)" "visible=1 inflight=0" "paused: a new notification waits in the queue"
echo 200 >"$R/status"
wait_received 26 60
want=$(expect_alerts p1 25 p2 1 | sort)
is "$(received_sorted)" "$want" "deliveries drained: receiving resumed, 26 alerts once each"
like "$(log_lines 'receiving again')" "receiving again after" "the resume is logged"
# The first 2xx releases every delivery waiting out a backoff.
first=$(jq -s '[.[] | select(.status < 300)] | min_by(.t) | .t' "$R/received.jsonl")
last=$(jq -s '[.[] | select(.status < 300) | select(.body.eventID | startswith("p1"))] | max_by(.t) | .t' \
    "$R/received.jsonl")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a < 2) }'
t_ok $? "a recovered destination drains its backlog at once ($(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.2f", b - a }') s)"

# ---- 2. a full spool: transient, nothing lost --------------------------------
echo 500 >"$R/status"
trail f1 45
publish_names f1
wait_log "spool_full" 40
t_ok $? "45 alerts for a 40-alert spool: the message fails as spool_full"
like "$(log_lines 'spool_full')" \
    "cannot keep this object's alerts \(spool_full: the spool holds spool.max_pending alerts\)" \
    "spool_full: said in our words"
unlike "$(cat "$T_TMP/daemon.log")" "object_too_big|Argument list too long|giving up" \
    "spool_full: not the object's fault, not given up at max_receive_count 1"
echo 200 >"$R/status"
want=$(expect_alerts p1 25 p2 1 f1 45 | sort)
wait_received 71 90
is "$(received_sorted)" "$want" "spool full: all 45 alerts arrive once the sinks catch up"
is "$(dups)" "" "spool full: none twice"
canary canary1 40
t_ok $? "a canary sent afterwards arrives"
wait_queue_empty 20
t_ok $? "the queue drains"
done_testing
