#!/bin/sh
# The man pages are lint-clean and document every option --help lists.
. "$(dirname "$0")/lib.sh"
for m in "$TOP_SRCDIR"/man/*.[0-9]; do
	if [ -n "$MANDOC" ] && [ -x "$MANDOC" ] || command -v mandoc >/dev/null; then
		out=$(mandoc -Tlint -W warning "$m" 2>&1)
		is "$out" "" "mandoc -Tlint clean: $(basename "$m")"
	else
		t_ok 1 "mandoc installed"
	fi
done
st --help
is "$RC" 0 "--help exits 0"
for opt in $(printf '%s\n' "$OUT" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
	grep -qF -- "Fl \\${opt#-}" "$TOP_SRCDIR/man/smtrail.8"
	t_ok $? "smtrail.8 documents $opt"
done
for cmd in $(printf '%s\n' "$OUT" | sed -n 's/^  \([a-z-]*\) .*/\1/p'); do
	grep -q "^\.It Cm $cmd" "$TOP_SRCDIR/man/smtrail.8"
	t_ok $? "smtrail.8 documents command $cmd"
done
done_testing
