#!/bin/sh
# `smtrail check` as the service will run (smtrail(8), "check"): credentials
# from --credentials-dir or $CREDENTIALS_DIRECTORY, else "not checked";
# secret files as --as-user reads them (as root without it: a warning for
# those only root may read); no source is an error; the advice, warnings
# that --strict makes errors; the shipped smtrail.yaml. Every message is
# asserted exactly, with its file:line:col.
. "$(dirname "$0")/lib.sh"
R="$TOP_SRCDIR/etc/smtrail/rules.yaml"
C="$T_TMP/smtrail.yaml"
# A test that cannot run here says so (TAP SKIP), never silently.
skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N # SKIP $1"
}
# The lines of $ERR matching a pattern, for exact comparisons.
errs() { printf '%s\n' "$ERR" | grep -E -- "$1"; }

RUNNABLE="sqs: {queue_url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q'}
s3: {allowed_buckets: [trail-bucket]}
sns: {topic_arns: ['arn:aws:sns:eu-west-1:123456789012:ct']}
default_destinations: [console]"

# ---- 1. a configuration run would take: nothing to say ---------------------
printf '%s\ndestinations:\n  console: {type: stdout}\n' "$RUNNABLE" >"$C"
st --config "$C" --rules "$R" check --strict
is "$RC" 0 "runnable: check --strict exit 0"
is "$ERR" "" "runnable: nothing on stderr"
like "$OUT" "^$C: configuration OK$" "runnable: configuration OK"

# ---- 2. no source -------------------------------------------------------------
printf '%s\n' "$RUNNABLE" | sed 1d >"$C.nosrc"
printf 'destinations:\n  console: {type: stdout}\n' >>"$C.nosrc"
st --config "$C.nosrc" --rules "$R" check
is "$RC" 1 "no queue_url: exit 1"
is "$ERR" "$C.nosrc: no source configured for run: neither sqs.queue_url nor lookup is set" \
    "no queue_url: the error, for the file as a whole"
unlike "$OUT" "configuration OK" "no queue_url: not OK"
printf 'sqs:\n  wait_time: 5s\n' >"$C.nosrc2"
cat "$C.nosrc" >>"$C.nosrc2"
st --config "$C.nosrc2" --rules "$R" check
is "$ERR" "$C.nosrc2:1:1: no source configured for run: neither sqs.queue_url nor lookup is set" \
    "no queue_url in an sqs section: at the section"
st --config "$C.nosrc" --rules "$R" check --rules-only
is "$RC" 0 "--rules-only: no source needed"
is "$ERR" "" "--rules-only: nothing said"
st --config "$C.nosrc" --rules "$R" replay "$TOP_SRCDIR/tests/data/demo"
is "$RC" 0 "replay needs no queue"

# ---- 3. the shipped smtrail.yaml ---------------------------------------------
S="$TOP_SRCDIR/etc/smtrail/smtrail.yaml"
st --config "$S" --rules "$R" check
is "$RC" 1 "shipped smtrail.yaml: exit 1 until queue_url is set"
is "$(errs 'no source')" "$S:39:1: no source configured for run: neither sqs.queue_url nor lookup is set" \
    "shipped: no source, at the sqs section"
is "$(errs allowed_buckets)" "warning: $S:56:1: s3.allowed_buckets is not set: objects are fetched from any bucket a notification names (list the trail's buckets)" \
    "shipped: allowed_buckets unset, at the s3 section"
is "$(errs topic_arns)" "warning: $S:64:1: sns.topic_arns is not set: notifications from any SNS topic are accepted (list the trail's topics)" \
    "shipped: topic_arns unset, at the sns section"
is "$(printf '%s\n' "$ERR" | wc -l)" 3 "shipped: nothing else"
st --config "$S" --rules "$R" check --rules-only
is "$RC" 0 "shipped, --rules-only: exit 0"
# Uncommenting the three lines its comments ask for makes it pass --strict.
sed -e 's|^  #queue_url: |  queue_url: |' -e 's|^  #allowed_buckets: |  allowed_buckets: |' \
    -e 's|^  #topic_arns: |  topic_arns: |' "$S" >"$C.shipped"
st --config "$C.shipped" --rules "$R" check --strict
is "$RC" 0 "shipped with queue_url, allowed_buckets and topic_arns: check --strict OK"
is "$ERR" "" "shipped, set: nothing to say"

# ---- 4. advice: warnings, errors under --strict ------------------------------
cat >"$C.adv" <<YAML
$RUNNABLE
destinations:
  console: {type: stdout}
  hook: {type: webhook, url: 'http://hooks.example.com/x'}
  slack: {type: slack, url: 'https://chat.example.net/services/x'}
  pd: {type: pagerduty, routing_key: abc}
  local: {type: webhook, url: 'http://127.0.0.1:8080/x'}
YAML
W_HOOK="$C.adv:7:30: destination 'hook': 'url' is http://, not https:// (the alert and the URL travel in clear text)"
W_SLACK="$C.adv:8:29: destination 'slack': 'url' is on 'chat.example.net', not hooks.slack.com (a Slack incoming webhook is https://hooks.slack.com/services/...)"
W_PD="$C.adv:9:38: destination 'pd': 'routing_key' is not 32 characters long (a PagerDuty Events API v2 integration key is)"
st --config "$C.adv" --rules "$R" check
is "$RC" 0 "advice: warnings, exit 0"
is "$ERR" "warning: $W_HOOK
warning: $W_SLACK
warning: $W_PD" "advice: http://, Slack's host, PagerDuty's key; loopback http:// is fine"
like "$OUT" "^$C.adv: configuration OK$" "advice: configuration OK"
st --config "$C.adv" --rules "$R" check --strict
is "$RC" 1 "advice, --strict: exit 1"
is "$ERR" "$W_HOOK
$W_SLACK
$W_PD" "advice, --strict: the same, as errors"
printf 'sqs: {queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/q}\ndefault_destinations: [console]\ndestinations:\n  console: {type: stdout}\n' >"$C.unset"
st --config "$C.unset" --rules "$R" check
is "$ERR" "warning: $C.unset: s3.allowed_buckets is not set: objects are fetched from any bucket a notification names (list the trail's buckets)
warning: $C.unset: sns.topic_arns is not set: notifications from any SNS topic are accepted (list the trail's topics)" \
    "allowed_buckets and topic_arns unset: warned, for the file"
is "$RC" 0 "unset: exit 0"
# A queue ARN: taken as its URL, which the warning gives.
sed "1s|.*|sqs: {queue_url: 'arn:aws:sqs:eu-west-1:123456789012:smtrail'}|" "$C" >"$C.arn"
st --config "$C.arn" --rules "$R" check
is "$RC" 0 "queue ARN: exit 0"
is "$ERR" "warning: $C.arn:1:18: 'queue_url' is a queue ARN; its URL is 'https://sqs.eu-west-1.amazonaws.com/123456789012/smtrail' (used instead: write that)" \
    "queue ARN: the URL as the hint"
like "$OUT" "^sqs.queue_url: https://sqs.eu-west-1.amazonaws.com/...$" "queue ARN: the URL used"
st --config "$C.arn" --rules "$R" check --strict
is "$RC" 1 "queue ARN, --strict: exit 1"
# metrics on localhost.
printf 'metrics: {listen: localhost:9410}\n' >>"$C.arn"
st --config "$C.arn" --rules "$R" check
like "$OUT" "^metrics.listen: localhost:9410$" "metrics.listen: localhost:9410 accepted"

# ---- 5. systemd credentials --------------------------------------------------
mkdir -p "$T_TMP/creds"
printf '0123456789abcdef0123456789abcdef\n' >"$T_TMP/creds/pd-key"
chmod 0600 "$T_TMP/creds/pd-key"
cat >"$C.cred" <<YAML
$RUNNABLE
destinations:
  console: {type: stdout}
  pd: {type: pagerduty, routing_key: 'credential:pd-key'}
YAML
unset CREDENTIALS_DIRECTORY
st --config "$C.cred" --rules "$R" check --strict
is "$RC" 0 "credential, no directory: exit 0, even --strict"
is "$ERR" "warning: $C.cred:7:38: credential 'pd-key' for 'routing_key' of destination 'pd': not checked (systemd credential; no --credentials-dir, and \$CREDENTIALS_DIRECTORY is not set)" \
    "credential, no directory: not checked"
like "$OUT" "^destination pd: pagerduty .* routing_key \(credential, not checked\)" \
    "credential, no directory: the summary says so"
st --config "$C.cred" --rules "$R" check --strict --credentials-dir "$T_TMP/creds"
is "$RC" 0 "--credentials-dir: exit 0"
is "$ERR" "" "--credentials-dir: read and checked"
like "$OUT" "^destination pd: pagerduty .* routing_key \(secret\)" "--credentials-dir: the summary"
CREDENTIALS_DIRECTORY=$T_TMP/creds st --config "$C.cred" --rules "$R" check
is "$ERR" "" "\$CREDENTIALS_DIRECTORY: read"
st --config "$C.cred" --rules "$R" check --credentials-dir "$T_TMP"
is "$RC" 1 "--credentials-dir without it: exit 1"
is "$ERR" "$C.cred:7:38: credential 'pd-key' for 'routing_key' of destination 'pd': $T_TMP/pd-key: No such file or directory" \
    "--credentials-dir without it: says where it looked"

# ---- 6. secret files as the service's user reads them ----------------------
printf 'https://hooks.slack.com/services/x\n' >"$T_TMP/slack.url"
chmod 0600 "$T_TMP/slack.url"
cat >"$C.file" <<YAML
$RUNNABLE
destinations:
  console: {type: stdout}
  slack: {type: slack, url_file: $T_TMP/slack.url}
YAML
AT="$C.file:7:34: secret file '$T_TMP/slack.url' for 'url_file' of destination 'slack'"
st --config "$C.file" --rules "$R" check --as-user no-such-user-smtrail
is "$RC" 2 "--as-user, no such user: exit 2"
is "$ERR" "smtrail: --as-user: no user 'no-such-user-smtrail' (a DynamicUser= exists only while its service runs: give its uid)" \
    "--as-user, no such user: says so"
if [ "$(id -u)" = 0 ]; then
	st --config "$C.file" --rules "$R" check
	is "$RC" 0 "as root, root's 0600: exit 0"
	is "$ERR" "warning: $AT: only root may read it (owner uid 0, group 0, mode 0600), not the service's user: use credential:NAME, or check with --as-user USER" \
	    "as root, root's 0600: only root may read it"
	st --config "$C.file" --rules "$R" check --strict
	is "$RC" 1 "as root, root's 0600, --strict: exit 1"
	st --config "$C.file" --rules "$R" check --as-user nobody
	is "$RC" 1 "--as-user nobody, root's 0600: exit 1"
	is "$ERR" "$AT: not readable by user 'nobody' (uid 65534): owner uid 0, group 0, mode 0600" \
	    "--as-user nobody: not readable by it"
	st --config "$C.file" --rules "$R" check --as-user 61234
	is "$ERR" "$AT: not readable by uid 61234: owner uid 0, group 0, mode 0600" \
	    "--as-user a DynamicUser's uid: not readable by it"
	chgrp 61234 "$T_TMP/slack.url" && chmod 0640 "$T_TMP/slack.url"
	st --config "$C.file" --rules "$R" check --strict --as-user 61234
	is "$RC" 0 "--as-user 61234, group 61234 may read: exit 0"
	is "$ERR" "" "--as-user 61234: readable through its group"
	chown 61234 "$T_TMP/slack.url" && chmod 0600 "$T_TMP/slack.url"
	st --config "$C.file" --rules "$R" check --strict --as-user 61234
	is "$ERR" "" "--as-user 61234: its own file"
	st --config "$C.file" --rules "$R" check
	is "$ERR" "" "as root, a file a non-root user owns: no warning"
	st --config "$C.file" --rules "$R" check --as-user nobody
	is "$ERR" "$AT: owned by uid 61234, neither root nor user 'nobody' (uid 65534)" \
	    "--as-user nobody, another user's file: refused as the service would"
	chown 0:0 "$T_TMP/slack.url"
	st --config "$C.file" --rules "$R" check --strict --as-user root
	is "$ERR" "" "--as-user root: root reads it, no warning"
else
	st --config "$C.file" --rules "$R" check --strict
	is "$ERR" "" "not root, my 0600: no warning (I may read it)"
	st --config "$C.file" --rules "$R" check --as-user "$(id -u)"
	is "$RC" 0 "--as-user me: exit 0"
	for t in "root's 0600 warned" "root's 0600 strict" "--as-user nobody" \
	    "--as-user a uid" "group read" "own file" "non-root owner" \
	    "another user's file" "--as-user root"; do
		skip "not root: cannot make root's or others' files ($t)"
	done
fi
# ---- the mistakes of issue 14: each gets a clear message ----------------------
cat >"$T_TMP/mistakes.yaml" <<'EOF2'
rules:
  - id: prod-secret-read
    match:
      eventName: [GetSecret, secretsmanager:DeleteSecret]
      eventSource: secretmanager.amazonaws.com
      requestParameters.secretId: {regex: '^prod/\d+$'}
      userIdentity.ar: {not: {glob: 'arn:aws:iam::*:role/ops'}}
  - id: forced-delete
    match:
      eventName: DeleteSecret
      requestParameters:
        forceDeleteWithoutRecovery: true
EOF2
printf 'rules:\n  - id: a\n    match:\n\teventName: DeleteSecret\n' >"$T_TMP/tab.yaml"
st --config "$C" --rules "$T_TMP/mistakes.yaml" check --rules-only
is "$RC" 1 "mistakes: exit 1 (the regex and the nested path are errors)"
is "$ERR" "warning: $T_TMP/mistakes.yaml:4:19: unknown event name 'GetSecret' (did you mean 'GetSecretValue'?)
warning: $T_TMP/mistakes.yaml:4:30: unknown event name 'secretsmanager:DeleteSecret' (did you mean 'DeleteSecret'?)
warning: $T_TMP/mistakes.yaml:5:20: unknown event source 'secretmanager.amazonaws.com' (did you mean 'secretsmanager.amazonaws.com'?)
$T_TMP/mistakes.yaml:6:43: bad regex: '\d' is not POSIX ERE; write '[0-9]'
warning: $T_TMP/mistakes.yaml:7:7: unknown CloudTrail field 'userIdentity.ar' (did you mean 'userIdentity.arn'?)
$T_TMP/mistakes.yaml:12:9: unknown operator 'forceDeleteWithoutRecovery' (write \`requestParameters.forceDeleteWithoutRecovery: …\`)" \
    "mistakes: every one, at file:line:col"
st --config "$C" --rules "$T_TMP/mistakes.yaml" check --rules-only --strict
is "$(printf '%s\n' "$ERR" | grep -c '^warning')" 0 "mistakes: --strict: all errors"
is "$(printf '%s\n' "$ERR" | grep -c "mistakes.yaml:")" 6 "mistakes: --strict: the same six"
st --config "$C" --rules "$T_TMP/tab.yaml" check --rules-only
is "$ERR" "$T_TMP/tab.yaml:4:1: YAML syntax error: tabs are not allowed in YAML indentation" \
    "a tab in indentation: said so"
done_testing
