#!/bin/sh
# Style robots: clang-format (KNF settings in .clang-format), checksrc, and
# no merge conflict left behind in any source, page, test or document.
. "$(dirname "$0")/lib.sh"
cd "$TOP_SRCDIR" || exit 1
files=$(ls src/*.c src/*.h src/aws/*.c src/aws/*.h tests/*.c tests/*.h \
    tests/fuzz/*.c tests/fuzz/*.h 2>/dev/null)
if command -v clang-format >/dev/null 2>&1; then
	out=$(clang-format --dry-run --Werror $files 2>&1)
	is "$out" "" "clang-format: sources formatted"
else
	t_ok 1 "clang-format installed"
fi
out=$(scripts/checksrc . 2>&1)
is "$out" "" "checksrc: no banned calls, no printing below main.c"
# A conflict marker in a man page still renders (mandoc -T lint passes it).
out=$(grep -rnE '^(<<<<<<< |>>>>>>> |=======$)' src tests man etc docs contrib \
    systemd debian scripts tools bench Makefile.am configure.ac README.md \
    CHANGELOG.md 2>/dev/null | grep -v '^tests/data/' | head -5)
is "$out" "" "no merge conflict markers"
done_testing
