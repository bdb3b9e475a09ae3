#!/bin/sh
# The hardened unit: systemd-analyze verify is silent (against the built
# binary, since /usr/sbin/smtrail need not exist here), the offline security
# score stays at 1.5 or below, the unit keeps what the daemon relies on, and
# its restart policy never gives up on an outage nor loops on a bad config.
# A missing systemd-analyze is a failure, not a skip.
. "$(dirname "$0")/lib.sh"
unit=$TOP_SRCDIR/systemd/smtrail.service
need "$unit" "$SMTRAIL"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	t_ok 1 "systemd-analyze installed (apt-get install systemd)"
	done_testing
fi

# verify, with ExecStart pointing at the binary we just built. The copy
# keeps the unit's name: verify derives the unit type and name from it.
# --man=no because pages are not installed in a build tree; the
# Documentation= pages are checked against man/ below instead.
mkdir -p "$T_TMP/unit"
sed "s|^ExecStart=/usr/sbin/smtrail |ExecStart=$SMTRAIL |" "$unit" \
    >"$T_TMP/unit/smtrail.service"
like "$(grep '^ExecStart=' "$T_TMP/unit/smtrail.service")" \
    "^ExecStart=$SMTRAIL run\$" "the copy runs the built binary"
out=$(SYSTEMD_COLORS=0 systemd-analyze verify --man=no \
    "$T_TMP/unit/smtrail.service" 2>&1)
is "$out" "" "systemd-analyze verify prints nothing"

# The shipped unit, unmodified: only the missing /usr/sbin/smtrail (if it
# is missing) may be reported.
out=$(SYSTEMD_COLORS=0 systemd-analyze verify --man=no "$unit" 2>&1 |
    grep -v 'Command /usr/sbin/smtrail is not executable')
is "$out" "" "verify of the shipped unit: nothing but the binary's path"

docs=$(sed -n 's/^Documentation=//p' "$unit" | tr ' ' '\n')
for page in $docs; do
	case $page in
	man:*)
		f=$(printf '%s\n' "${page#man:}" | sed 's/(\(.*\))$/.\1/')
		test -f "$TOP_SRCDIR/man/$f"
		t_ok $? "Documentation= $page exists as man/$f"
		;;
	file:/usr/share/doc/smtrail/*)
		f=docs/${page#file:/usr/share/doc/smtrail/}
		test -f "$TOP_SRCDIR/$f"
		t_ok $? "Documentation= $page is $f"
		grep -q "$f" "$TOP_SRCDIR/Makefile.am"
		t_ok $? "Documentation= $page: $f is installed (Makefile.am)"
		;;
	*) t_ok 1 "Documentation= $page: man: or file:/usr/share/doc/smtrail/" ;;
	esac
done
# Every man page the source has is listed.
for f in "$TOP_SRCDIR"/man/*.[0-9]; do
	b=$(basename "$f")
	ref="man:${b%.*}(${b##*.})"
	printf '%s\n' "$docs" | grep -Fxq "$ref"
	t_ok $? "Documentation= lists $ref"
done

out=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=yes "$unit" 2>&1)
rc=$?
is "$rc" 0 "systemd-analyze security --offline=yes runs"
level=$(printf '%s\n' "$out" |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
like "$level" '^[0-9]+\.[0-9]$' "overall exposure level found ($level)"
awk -v l="${level:-99}" 'BEGIN { exit !(l + 0 <= 1.5) }'
t_ok $? "overall exposure $level <= 1.5"
if [ -z "$level" ]; then
	printf '%s\n' "$out" | sed 's/^/#   /' | tail -5
fi

# What the daemon relies on (DESIGN.md, "Daemon").
body=$(sed -n '/^\[Service\]/,/^\[/p' "$unit")
like "$body" '^Type=notify$' "Type=notify"
like "$body" '^NotifyAccess=main$' "NotifyAccess=main"
like "$body" '^WatchdogSec=[1-9]' "WatchdogSec set"
like "$body" '^ExecReload=/bin/kill -HUP \$MAINPID$' "ExecReload sends SIGHUP"
like "$body" '^ExecStart=/usr/sbin/smtrail run$' "ExecStart runs smtrail run"
like "$body" '^Restart=on-failure$' "Restart=on-failure"
like "$body" '^StateDirectory=smtrail$' "StateDirectory=smtrail"
like "$body" '^ConfigurationDirectory=smtrail$' "ConfigurationDirectory=smtrail"

# Restart policy: a bad configuration (exit 2) is not restarted; anything
# else is, after a delay, for ever (no start limit to run into).
like "$body" '^RestartPreventExitStatus=2$' "RestartPreventExitStatus=2"
like "$body" '^RestartSec=[1-9][0-9]*s?$' "RestartSec= a delay"
head=$(sed -n '/^\[Unit\]/,/^\[/p' "$unit")
like "$head" '^StartLimitIntervalSec=0$' "StartLimitIntervalSec=0 in [Unit]"
unlike "$body" '^StartLimit' "no StartLimit*= in [Service]"
unlike "$body" '^TimeoutStartSec=' "the default start timeout (READY=1 comes early)"
done_testing
