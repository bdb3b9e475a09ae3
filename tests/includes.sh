#!/bin/sh
# The include graph follows the data flow (scripts/includes): the tree is
# clean, and the checker catches what it is for, on small made-up trees:
# the sink <-> slack <-> pd cycle of old, a lower stage including a higher
# one, two drivers including each other, a sink calling AWS, a module no
# layer names.
. "$(dirname "$0")/lib.sh"
CHECK="$TOP_SRCDIR/scripts/includes"
PY=${PYTHON:-python3}

out=$("$PY" "$CHECK" "$TOP_SRCDIR/src" 2>&1)
t_ok $? "src/: no cycle, nothing against the data flow"
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'

tree() { # tree NAME FILE:INCLUDES... -> $T_TMP/NAME with those files
	d="$T_TMP/$1"
	shift
	mkdir -p "$d/aws"
	for spec in "$@"; do
		f=${spec%%:*}
		: >"$d/$f"
		for inc in $(printf '%s' "${spec#*:}" | tr ',' ' '); do
			echo "#include \"$inc\"" >>"$d/$f"
		done
	done
}
tree cycle sink.c:sink.h,pd.h,slack.h sink.h: slack.c:slack.h,sink.h slack.h: \
    pd.c:pd.h,sink.h pd.h:
out=$("$PY" "$CHECK" "$T_TMP/cycle")
like "$out" "^include cycle: pd <-> sink <-> slack" "the old sink/slack/pd cycle is caught"
tree flow trail.c:trail.h,spool.h trail.h: spool.c:spool.h spool.h:
out=$("$PY" "$CHECK" "$T_TMP/flow")
is "$out" "trail.c:2: trail (records) includes spool (spool): against the data flow" \
    "a lower stage including a higher one is caught"
tree drivers intake.c:intake.h,engine.h intake.h: engine.c:engine.h engine.h:
out=$("$PY" "$CHECK" "$T_TMP/drivers")
is "$out" "intake.c:2: intake (drivers) includes engine (drivers): against the data flow" \
    "drivers including each other are caught"
tree aws sink.c:sink.h,aws/sigv4.h sink.h: aws/sigv4.c:sigv4.h aws/sigv4.h:
out=$("$PY" "$CHECK" "$T_TMP/aws")
is "$out" "sink.c:2: sink (sinks) includes aws/sigv4: the stages after the object do not call AWS" \
    "a sink including aws/ is caught"
tree unknown mystery.c:buf.h buf.h:
out=$("$PY" "$CHECK" "$T_TMP/unknown")
is "$out" "mystery: module 'mystery' is in no layer of scripts/includes" \
    "a module in no layer is caught"
"$PY" "$CHECK" "$T_TMP/unknown" >/dev/null
is "$?" 1 "and the exit status says so"
done_testing
