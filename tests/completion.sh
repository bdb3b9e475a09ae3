#!/bin/sh
# contrib/bash-completion/smtrail: registered for smtrail (complete -p),
# and what it offers for a few command lines (COMP_WORDS simulated):
# commands, options per command, option values, destination names and
# rule ids from "smtrail check" on the line's -c/-r.
. "$(dirname "$0")/lib.sh"
comp=$TOP_SRCDIR/contrib/bash-completion/smtrail
need "$comp" "$SMTRAIL"
if ! command -v bash >/dev/null 2>&1; then
	t_ok 1 "bash installed"
	done_testing
fi
cat >"$T_TMP/smtrail.yaml" <<YAML
rules: "$TOP_SRCDIR/etc/smtrail/rules.yaml"
state_dir: "$T_TMP/state"
default_destinations: [ops-console]
destinations:
  ops-console: {type: stdout}
  ops-second: {type: stdout}
YAML
# comp WORD...: the completions for the line "WORD..." (the last word is
# the one being completed), one per line, sorted.
comp() {
	bash -c '. "$1"; shift; smt=$1; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_smtrail "$smt" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort' \
	    sh "$comp" "$SMTRAIL" smtrail "$@"
}
words() { printf '%s\n' "$@" | sort; }

is "$(bash -c '. "$1"; complete -p smtrail' sh "$comp")" "complete -F _smtrail smtrail" \
    "complete -p smtrail: the function is registered"
is "$(comp '')" "$(words aws-check backfill check help replay run sigma-import spool test \
    test-destination version)" "the commands"
is "$(comp sigma-import "$TOP_SRCDIR/tests/data/sigma/local/sm_f")" \
    "$TOP_SRCDIR/tests/data/sigma/local/sm_features.yml" "sigma-import: file names"
is "$(comp te)" "$(words test test-destination)" "a command's prefix"
is "$(comp test-)" "test-destination" "a longer prefix"
is "$(comp check --)" "$(words --as-user --config --credentials-dir --help --log-level \
    --rules --rules-only --strict --version)" "check's options and the global ones"
is "$(comp replay --s)" "$(words --stats --state)" "replay's options"
is "$(comp backfill --bucket b --)" "$(words --bucket --checkpoint --config --dry-run --help \
    --jobs --log-level --prefix --rules --since --state --until --version)" \
    "backfill's options and the global ones"
is "$(comp backfill --since '')" "$(words 1d 7d 30d 90d)" "backfill --since: durations"
is "$(comp --log-level '')" "$(words debug err info notice warning)" "--log-level's values"
is "$(comp spool '')" "$(words list purge retry)" "spool's subcommands"
is "$(comp spool list --)" "$(words --config --failed --help --json --log-level --pending \
    --rules --version)" "spool list's options"
is "$(comp spool retry --a)" "--all-failed" "spool retry --all-failed"
is "$(comp spool purge --o)" "--older-than" "spool purge --older-than"
is "$(comp spool list '')" "" "spool list takes no word"
is "$(comp -c "$T_TMP/smtrail.yaml" test-destination '')" "$(words ops-console ops-second)" \
    "test-destination: the configuration's destinations (-c)"
is "$(comp --config "$T_TMP/smtrail.yaml" test-destination ops-s)" "ops-second" \
    "test-destination: a destination's prefix (--config)"
is "$(comp -c "$T_TMP/smtrail.yaml" test-destination ops-console '')" "" \
    "test-destination takes one destination"
is "$(comp -c "$T_TMP/nonexistent.yaml" test-destination '')" "" \
    "a configuration that does not load: nothing offered"
ids=$(bash -c '. "$1"; COMP_WORDS=(smtrail -c "$3" x); COMP_CWORD=3
	_smtrail_rule_ids "$2"' sh "$comp" "$SMTRAIL" "$T_TMP/smtrail.yaml")
want=$(sed -n 's/^  - id: *//p; s/^- id: *//p' "$TOP_SRCDIR/etc/smtrail/rules.yaml")
is "$ids" "$want" "rule ids: every id of the rules, in order"
test "$(printf "%s\n" "$ids" | grep -c .)" -ge 20
t_ok $? "rule ids: the whole pack (20 or more)"
mkdir -p "$T_TMP/dir/sub"
: >"$T_TMP/dir/a.yaml"
is "$(comp replay --ex)" "--explain" "replay --explain"
is "$(comp -c "$T_TMP/smtrail.yaml" replay --explain secret-force)" "secret-force-deleted" \
    "replay --explain: a rule id's prefix"
is "$(comp -r "$TOP_SRCDIR/etc/smtrail/rules.yaml" replay --explain '' | grep -c .)" \
    "$(printf '%s\n' "$ids" | grep -c .)" "replay --explain: every rule id (-r)"
is "$(comp -c "$T_TMP/smtrail.yaml" replay --explain secret-force-deleted "$T_TMP/dir/a")" \
    "$T_TMP/dir/a.yaml" "replay --explain RULE: then file names"
is "$(comp -c "$T_TMP/dir/a")" "$T_TMP/dir/a.yaml" "-c: file names"
is "$(comp replay --state "$T_TMP/dir/s")" "$T_TMP/dir/sub" "--state: directories"
done_testing
