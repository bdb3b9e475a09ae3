#!/bin/sh
# make install / make uninstall with DESTDIR: the shipped configuration is
# installed as samples in $(pkgdatadir) (always the new pack, to diff
# against; the pack's tests beside it) and copied to $(confdir) only where absent; an edited file
# survives both a second install and the uninstall, an unedited one is
# removed. The unit goes where systemd looks for the prefix, with
# ExecStart and Documentation= naming the installed paths.
. "$(dirname "$0")/lib.sh"
need "$TOP_BUILDDIR/Makefile"
B=$TOP_BUILDDIR
root=$T_TMP/root
mk() { make -s -C "$B" --no-print-directory "$@" DESTDIR="$root" >"$T_TMP/make.out" 2>&1; }
# var NAME: the Makefile's value of $(NAME).
var() {
	printf 'print-var:\n\t@echo $(%s)\n' "$1" |
	    make -s -C "$B" --no-print-directory -f Makefile -f - print-var
}
confdir=$(var confdir)
pkgdatadir=$(var pkgdatadir)
unitdir=$(var systemdsystemunitdir)
sbindir=$(var sbindir)
docdir=$(var docdir)
compdir=$(var bashcompdir)
like "$confdir" '^/' "confdir from the Makefile ($confdir)"

# smtrail version names the commit: git's, a tarball's .commit, or unknown.
c=$(sh "$TOP_SRCDIR/scripts/commit" "$TOP_SRCDIR")
like "$c" '^([0-9a-f]{12}(-dirty)?|unknown)$' "scripts/commit: $c"
is "$("$SMTRAIL" version | sed -n 's/^commit: //p')" "$c" "smtrail version: commit: $c"
mkdir -p "$T_TMP/nogit"
is "$(sh "$TOP_SRCDIR/scripts/commit" "$T_TMP/nogit")" unknown "no git, no .commit: unknown"
echo 0123456789ab >"$T_TMP/nogit/.commit"
is "$(sh "$TOP_SRCDIR/scripts/commit" "$T_TMP/nogit")" 0123456789ab "a tarball's .commit"

mk install
is "$?" 0 "make install DESTDIR="
test -x "$root$sbindir/smtrail"
t_ok $? "smtrail in sbindir"
for f in rules.yaml smtrail.yaml; do
	cmp -s "$TOP_SRCDIR/etc/smtrail/$f" "$root$pkgdatadir/$f"
	t_ok $? "sample $pkgdatadir/$f is the shipped one"
	cmp -s "$TOP_SRCDIR/etc/smtrail/$f" "$root$confdir/$f"
	t_ok $? "$confdir/$f copied from it"
done
# The pack's tests beside the sample, passing against it there.
cmp -s "$TOP_SRCDIR/etc/smtrail/rules.test.yaml" "$root$pkgdatadir/rules.test.yaml"
t_ok $? "$pkgdatadir/rules.test.yaml installed beside the sample"
test ! -e "$root$confdir/rules.test.yaml"
t_ok $? "rules.test.yaml is not copied to $confdir (not configuration)"
"$SMTRAIL" test "$root$pkgdatadir/rules.test.yaml" >"$T_TMP/test.out" 2>&1
is "$?" 0 "smtrail test passes on the installed tests and sample"
u=$root$unitdir/smtrail.service
test -f "$u"
t_ok $? "unit in $unitdir"
is "$(grep '^ExecStart=' "$u")" "ExecStart=$sbindir/smtrail run" "the unit runs sbindir's smtrail"
is "$(sed -n 's/^Documentation=file://p' "$u")" "$docdir/aws-setup.md" \
    "the unit's file: Documentation= is the installed guide"
test -f "$root$docdir/aws-setup.md"
t_ok $? "the guide is installed there"
test -f "$root$compdir/smtrail"
t_ok $? "bash completion in $compdir"

# An operator edits one file; a new install (an upgrade) keeps it and
# brings the new pack as the sample.
echo "# edited" >>"$root$confdir/rules.yaml"
echo "# old sample" >>"$root$pkgdatadir/rules.yaml"
mk install
is "$?" 0 "make install again"
is "$(tail -1 "$root$confdir/rules.yaml")" "# edited" "an edited config file is not overwritten"
cmp -s "$TOP_SRCDIR/etc/smtrail/rules.yaml" "$root$pkgdatadir/rules.yaml"
t_ok $? "the sample is the new pack again (to diff against)"

mk uninstall
is "$?" 0 "make uninstall DESTDIR="
like "$(cat "$T_TMP/make.out")" "rules.yaml was edited: kept" "uninstall says it keeps the edited file"
is "$(tail -1 "$root$confdir/rules.yaml" 2>/dev/null)" "# edited" "the edited config file stays"
test ! -e "$root$confdir/smtrail.yaml"
t_ok $? "the unedited config file is removed"
left=$(cd "$root" && find . -type f | sort)
is "$left" ".$confdir/rules.yaml" "nothing else is left"

# The unit's directory for a prefix (configure's default): systemd reads
# /usr/local/lib/systemd/system for /usr/local; with /usr, pkg-config's.
if [ -f "$TOP_SRCDIR/config.status" ]; then
	echo "ok $((T_N + 1)) # SKIP unit dir per prefix: the source tree is configured in place (needs a VPATH build)"
	T_N=$((T_N + 1))
else
	for p in /usr/local /opt/smtrail /usr; do
		mkdir -p "$T_TMP/c$p"
		(cd "$T_TMP/c$p" && "$TOP_SRCDIR/configure" -q --prefix="$p" \
		    --disable-werror >/dev/null 2>&1)
		got=$(sed -n 's/^systemdsystemunitdir = //p' "$T_TMP/c$p/Makefile")
		got=$(echo "$got" | sed "s|\${prefix}|$p|")
		case $p in
		/usr) want=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null)
			want=${want:-/usr/lib/systemd/system} ;;
		*) want=$p/lib/systemd/system ;;
		esac
		is "$got" "$want" "--prefix=$p: the unit goes to $want"
	done
fi
done_testing
