# tests/lib.sh: TAP helpers for the shell tests (sourced).
# The Makefile exports SMTRAIL, SMTRAIL_WRAP, TOP_SRCDIR, SMTRAIL_SHARED_DATA.
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
: "${SMTRAIL:=$TOP_BUILDDIR/smtrail}"
: "${SMTRAIL_WRAP:=$TOP_SRCDIR/tests/wrap}"
: "${SMTRAIL_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
DATA=$SMTRAIL_SHARED_DATA
T_N=0
T_FAILED=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/smtrail-test.XXXXXX")
T_PIDS=
# What a test started in the background (t_start) is stopped at exit.
t_cleanup() {
	[ -n "$T_PIDS" ] && kill $T_PIDS 2>/dev/null
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT

t_ok() { # t_ok PASS(0|1) NAME
	T_N=$((T_N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $T_N - $2"
	else
		T_FAILED=$((T_FAILED + 1))
		echo "not ok $T_N - $2"
	fi
}

# is GOT WANT NAME
is() {
	if [ "$1" = "$2" ]; then
		t_ok 0 "$3"
	else
		t_ok 1 "$3"
		printf '%s\n' "#   got:  $1" "#   want: $2"
	fi
}

# like GOT REGEX NAME (grep -E)
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		t_ok 0 "$3"
	else
		t_ok 1 "$3"
		printf '%s\n' "$1" | sed 's/^/#   got: /' | head -20
		echo "#   want match: $2"
	fi
}

# unlike GOT REGEX NAME
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		t_ok 1 "$3"
		printf '%s\n' "$1" | grep -E -- "$2" | sed 's/^/#   matched: /' | head -5
	else
		t_ok 0 "$3"
	fi
}

# st CMD...: run smtrail (under valgrind when asked), output in $OUT/$ERR,
# exit status in $RC.
st() {
	"$SMTRAIL_WRAP" "$SMTRAIL" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	RC=$?
	OUT=$(cat "$T_TMP/out")
	ERR=$(cat "$T_TMP/err")
}

# need FILE...: a missing fixture is a failure, never a skip.
need() {
	for f in "$@"; do
		[ -e "$f" ] || { t_ok 1 "fixture present: $f"; }
	done
}

done_testing() {
	echo "1..$T_N"
	[ "$T_FAILED" = 0 ] && [ "$T_N" -gt 0 ]
	exit $?
}

# wait_until SECONDS COMMAND...: until COMMAND succeeds (polled every 0.1 s).
# (Names prefixed: sh has no locals, and COMMAND may be another helper.)
wait_until() {
	_wu_n=$(($1 * 10))
	shift
	_wu_i=0
	while [ $_wu_i -lt $_wu_n ]; do
		"$@" && return 0
		sleep 0.1
		_wu_i=$((_wu_i + 1))
	done
	return 1
}

# at_least N COMMAND...: COMMAND prints at least N lines.
at_least() {
	_al_n=$1
	shift
	[ "$("$@" | wc -l)" -ge "$_al_n" ]
}

# log_lines PATTERN: the daemon log's lines matching PATTERN (grep -E).
log_lines() { grep -E -- "$1" "$T_TMP/daemon.log" 2>/dev/null; }

# t_start DIR COMMAND...: COMMAND in the background, stopped at exit; waits
# for it to write DIR/port (tests/receiver.py and tests/s3proxy.py do) and
# sets T_PORT to it. False if it did not.
t_start() {
	_ts_dir=$1
	shift
	mkdir -p "$_ts_dir"
	rm -f "$_ts_dir/port"
	"$@" &
	T_LAST_PID=$!
	T_PIDS="$T_PIDS $T_LAST_PID"
	wait_until 5 test -s "$_ts_dir/port" || return 1
	T_PORT=$(cat "$_ts_dir/port")
}
