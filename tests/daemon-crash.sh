#!/bin/sh
# kill -9 between spooling and delivery: the receiver is down when the
# message arrives, so the alerts sit in the spool; the daemon is killed,
# the receiver comes up, the daemon restarts: every alert arrives exactly
# once, including after the queue would have redelivered the message.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

moto_up smtrail-crash-trail work
receiver_up          # only to find a free port, then down
port=$RCV_PORT
receiver_down
RCV_PORT=$port VISIBILITY=4s write_config
moto put "$M" "$BUCKET" "$DEMO_KEY" "$DEMO_FILE" >/dev/null || bail "put"
daemon_up
publish "$DEMO_KEY"
wait_log "delivery to 'hook' failed" 30
t_ok $? "alerts spooled, receiver down: delivery is failing"
is "$(grep -c 'alert spooled' "$T_TMP/daemon.log")" $DEMO_N "every alert in the spool"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
t_ok 0 "kill -9"

receiver_up --port "$port" --key "hook-secret-$$"
daemon_up
wait_log "resending [0-9]+ pending deliveries" 5
t_ok $? "restart: pending deliveries resent from the spool"
wait_received $DEMO_N 30
sleep 10 # past two visibility timeouts: any redelivery would be in by now
is "$(received | sort)" "$DEMO_ALERTS" "every alert arrived"
is "$(received | sort | uniq -d)" "" "and none twice"
wait_queue_empty 15
is "$(queue_counts)" "visible=0 inflight=0" "the queue is empty"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
done_testing
