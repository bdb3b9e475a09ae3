#!/bin/sh
# READY=1 as systemd sees it (tests/notify.py plays $NOTIFY_SOCKET): sent
# once the configuration is loaded, before and whatever the first receive
# does. With the queue's endpoint unreachable the daemon still says
# READY=1, stays up, and STATUS= says why it is not receiving; with moto
# it says it receives. A bad configuration exits 2 without READY=1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
N="$T_TMP/notify"
t_start "$N" "$PY" "$TOP_SRCDIR/tests/notify.py" "$N" || bail "notify.py start"
NOTIFY_SOCKET="$N/notify.sock"
export NOTIFY_SOCKET
notes() { cut -d' ' -f2- "$N/notify.log" 2>/dev/null; }
has_note() { notes | grep -Eq -- "$1"; }

# 1. Nothing listens on the endpoint: every ReceiveMessage fails.
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_ENDPOINT="http://127.0.0.1:$port"
SMTRAIL_QUEUE_URL="http://127.0.0.1:$port/123456789012/smtrail"
BUCKET=trail
AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIEXAMPLEKEY
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
write_config
: >"$T_TMP/daemon.log"
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/smtrail.yaml" \
    --log-level info run >>"$T_TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_until 30 has_note '^READY=1$'
t_ok $? "READY=1 arrives with the queue's endpoint unreachable"
wait_until 30 has_note '^STATUS=receiving \(receive failing, [0-9]+ in a row: ReceiveMessage: '
t_ok $? "STATUS= says receiving fails and why"
like "$(notes | grep '^STATUS=' | tail -1)" \
    '^STATUS=receiving \(receive failing, [0-9]+ in a row: ReceiveMessage: [^)]+\); 0 message\(s\) in work' \
    "STATUS= line: state, reason, counts"
unlike "$(cat "$T_TMP/daemon.log")" 'ready: receiving' \
    "the log does not claim receiving"
kill -0 "$DAEMON_PID" 2>/dev/null
t_ok $? "the daemon is still running"
# READY=1 came before the first failed receive was logged: it waits for
# nothing on the network.
like "$(grep -n 'ReceiveMessage failed' "$T_TMP/daemon.log" | head -1)" \
    'ReceiveMessage failed' "receives failed (logged)"
ready_at=$(awk '$2 == "READY=1" { print $1; exit }' "$N/notify.log")
status_at=$(awk '/STATUS=receiving \(receive failing/ { print $1; exit }' "$N/notify.log")
awk -v r="${ready_at:-99}" -v s="${status_at:-0}" 'BEGIN { exit !(r + 0 < s + 0) }'
t_ok $? "READY=1 ($ready_at s) before the failing STATUS= ($status_at s)"
daemon_stop TERM
is "$STOP_RC" 0 "SIGTERM: exit 0"
like "$(notes | tail -3)" '^STOPPING=1' "STOPPING=1 on SIGTERM"

# 2. Against moto: READY=1, then STATUS= says it receives.
: >"$N/notify.log"
moto_up trail smtrail
write_config
daemon_up
wait_until 30 has_note '^STATUS=receiving; '
t_ok $? "with moto: STATUS=receiving, no failure"
like "$(notes | head -1)" '^READY=1$' "with moto: READY=1 first"
daemon_stop TERM
is "$STOP_RC" 0 "with moto: SIGTERM: exit 0"

# 3. A bad configuration: exit 2 (the unit does not restart it) and no
# READY=1.
: >"$N/notify.log"
printf 'sqs: {queue_url: 12, nonsense: yes}\n' >"$T_TMP/bad.yaml"
"$SMTRAIL_WRAP" "$SMTRAIL" --config "$T_TMP/bad.yaml" run >"$T_TMP/bad.out" 2>&1
is "$?" 2 "bad configuration: exit 2"
sleep 0.2
is "$(notes | grep -c '^READY=1$')" 0 "bad configuration: no READY=1"
done_testing
