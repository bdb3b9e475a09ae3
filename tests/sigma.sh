#!/bin/sh
# smtrail sigma-import (smtrail(8)) on Sigma rules of our own
# (tests/data/sigma/README): how many are translated
# and refused, and why, each refusal at the Sigma field; every translated
# rule loads under check --strict; translated rules fire on a matching
# record and not on a near miss (replay).
. "$(dirname "$0")/lib.sh"
PY=${PYTHON:-python3}
mk() { "$PY" "$TOP_SRCDIR/tests/mkrec.py" "$@"; }
S=$TOP_SRCDIR/tests/data/sigma
need "$S/samples/sm_batch.yml" "$S/local/sm_features.yml"
# The refusals without the directory part of the file names.
refusals() { printf '%s\n' "$ERR" | grep ': refused ' | sed 's|^.*/||'; }

# 1. Two small rules of our own (samples/): translated, loaded, and firing.
# SigmaHQ's own rules are not shipped here (tests/data/sigma/README).
cd "$S/samples" || exit 1
st sigma-import ./*.yml
cd - >/dev/null || exit 1
is "$RC" 0 "samples: every rule translated, exit 0"
printf '%s\n' "$OUT" >"$T_TMP/hq.yaml"
is "$(printf '%s\n' "$ERR" | tail -n 1)" \
    "smtrail: sigma-import: 2 translated, 0 refused, 0 unreadable" \
    "samples: 2 translated"
st check --strict --rules-only -r "$T_TMP/hq.yaml"
is "$RC" 0 "samples: the translation loads under check --strict"
like "$(cat "$T_TMP/hq.yaml")" 'severity: error' "level high is severity error"

# 2. A sample fires on its event and not on a near miss.
mk "$T_TMP/batch.json" "n=BatchGetSecretValue,id=b-1,b=prod/a+prod/b" \
    "n=GetSecretValue,id=g-1,s=prod/a" "n=ListSecrets,id=l-1"
st replay --no-state -r "$T_TMP/hq.yaml" "$T_TMP/batch.json"
is "$RC" 0 "replay of the translation: exit 0"
is "$(printf '%s\n' "$OUT" | jq -r '.rule + " " + .eventID' | sort | tr '\n' ' ')" \
    "6f1c2a9e-0b7d-4c59-9e0a-5d3b8c1f7a42 b-1 " \
    "the batch rule fires on BatchGetSecretValue, not on GetSecretValue or ListSecrets"
mk "$T_TMP/ua.json" "n=GetSecretValue,id=u-1,ua=trufflehog" \
    "n=GetSecretValue,id=u-2,ua=TruffleHog/3.1"
st replay --no-state -r "$T_TMP/hq.yaml" "$T_TMP/ua.json"
is "$(printf '%s\n' "$OUT" | jq -r '.rule + " " + .eventID' | tr '\n' ' ')" \
    "0d8e3b52-7a41-4e6c-b0f9-2c7e5a1d9b63 u-1 " \
    "scanner: equality ignoring case ('trufflehog'), not a prefix"

# 3. Our rules: correlations, modifiers, and what is refused.
cd "$S/local" || exit 1
st sigma-import sm_features.yml sm_mass_retrieval.yml
cd - >/dev/null || exit 1
is "$RC" 1 "local set: some refused, exit 1"
printf '%s\n' "$OUT" >"$T_TMP/local.yaml"
is "$(printf '%s\n' "$ERR" | tail -n 1)" \
    "smtrail: sigma-import: 6 translated, 5 refused, 0 unreadable" \
    "local set: 6 translated (2 correlations, 2 aggregations), 5 refused"
is "$(refusals)" "$(cat <<'TXT'
sm_features.yml:44:11: refused 'Keyword search': selection 'keywords': a keyword search (a list of values, no field) cannot be expressed: smtrail matches fields
sm_features.yml:53:23: refused 'Lookahead regex': userAgent|re: (?...) groups (lookarounds, inline flags) have no POSIX ERE equivalent
sm_features.yml:60:11: refused 'Read then delete': correlation.type: temporal (all of several rules within a time span) cannot be expressed: smtrail's expect alerts when a follow-up is missing, not when it comes
sm_features.yml:75:34: refused 'Unknown selection': condition: unknown selection 'filter'
sm_features.yml:80:12: refused 'Windows rule': logsource: not {product: aws, service: cloudtrail}
TXT
)" "local set: each refusal with its position and reason"
st check --strict --rules-only -r "$T_TMP/local.yaml"
is "$RC" 0 "local set: the translation loads under check --strict"
like "$OUT" "local.yaml: 6 rules OK" "local set: all 6 rules load"
like "$(cat "$T_TMP/local.yaml")" 'threshold: \{count: 20, within: 10m\}' \
    "event_count gte 20 in 10m: threshold"
like "$(cat "$T_TMP/local.yaml")" 'distinct: \{field: "requestParameters.secretId", count: 10, within: 1h\}' \
    "value_count gt 9 in 1h: distinct of 10"
like "$(cat "$T_TMP/local.yaml")" '"userIdentity.arn": \{regex: "\^arn:aws:sts::\[0-9\]\{12\}:assumed-role/deploy/"\}' \
    "|re: \\d spelled [0-9]"
like "$(cat "$T_TMP/local.yaml")" '"eventName": "BatchGetSecretValue"' \
    "an event name in the wrong case: spelled as CloudTrail does"
unlike "$(cat "$T_TMP/local.yaml")" 'Secrets Manager secret read"' \
    "the base rule of a correlation is not written on its own"

like "$(cat "$T_TMP/local.yaml")" 'group_by: \["userIdentity.arn"\]
    threshold: \{count: 5, within: 10m\}' "| count() by userIdentity.arn >= 5, timeframe 10m: threshold"
like "$(cat "$T_TMP/local.yaml")" 'group_by: \[\]
    distinct: \{field: "requestParameters.secretId", count: 30, within: 1h\}' \
    "| count(requestParameters.secretId) > 29, timeframe 1h: distinct of 30, one group"
# The aggregation fires on the 5th failed read by one identity in 10
# minutes; not on 4, nor on 5 by two identities.
mk "$T_TMP/fail4.json" "n=GetSecretValue,id=f-1,t=09:00:01,e=AccessDenied" \
    "n=GetSecretValue,id=f-2,t=09:00:02,e=AccessDenied" \
    "n=GetSecretValue,id=f-3,t=09:00:03,e=AccessDenied" \
    "n=GetSecretValue,id=f-4,t=09:00:04,e=AccessDenied" \
    "n=GetSecretValue,id=f-5,t=09:00:05,e=AccessDenied,p=bob"
st replay -r "$T_TMP/local.yaml" "$T_TMP/fail4.json"
is "$OUT" "" "4 failed reads by alice and 1 by bob: no alert"
mk "$T_TMP/fail5.json" "n=GetSecretValue,id=f-1,t=09:00:01,e=AccessDenied" \
    "n=GetSecretValue,id=f-2,t=09:00:02,e=AccessDenied" \
    "n=GetSecretValue,id=f-3,t=09:00:03,e=AccessDenied" \
    "n=GetSecretValue,id=f-4,t=09:00:04,e=AccessDenied" \
    "n=GetSecretValue,id=f-5,t=09:09:59,e=AccessDenied"
st replay -r "$T_TMP/local.yaml" "$T_TMP/fail5.json"
is "$(printf '%s\n' "$OUT" | jq -r '.rule + " " + .eventID + " " + (.count | tostring)')" \
    "6c1d4e1f-0001-4000-8000-000000000008 f-5 5" "the 5th failed read within 10 minutes: the alert"

# The threshold fires on the 20th read by one identity within 10 minutes,
# not on 19, nor on failed reads.
set --
i=1
while [ $i -le 19 ]; do
	set -- "$@" "n=GetSecretValue,id=r-$i,t=09:00:$(printf %02d $i),s=s$i"
	i=$((i + 1))
done
mk "$T_TMP/19.json" "$@" "n=GetSecretValue,id=r-x,t=09:01:00,s=sx,e=AccessDenied"
mk "$T_TMP/20.json" "$@" "n=GetSecretValue,id=r-20,t=09:01:00,s=s20"
st replay -r "$T_TMP/local.yaml" "$T_TMP/19.json"
is "$(printf '%s\n' "$OUT" | jq -r '.rule' | sort | uniq -c | tr -s ' ' | tr '\n' ';')" \
    " 1 5b0c3f0e-8a8e-4c55-9d7e-0a1e6c2b7f03;" \
    "19 reads and a refused one: no threshold alert (10 distinct secrets: distinct fires)"
st replay -r "$T_TMP/local.yaml" "$T_TMP/20.json"
is "$(printf '%s\n' "$OUT" | jq -r 'select(.rule == "5b0c3f0e-8a8e-4c55-9d7e-0a1e6c2b7f02") | .eventID + " " + (.count | tostring)')" \
    "r-20 20" "the 20th read: the threshold alert, count 20"

# 4. Exit status: 0 when all are translated, 2 without a file.
st sigma-import "$S/samples/sm_batch.yml"
is "$RC" 0 "every rule translated: exit 0"
st sigma-import
is "$RC" 2 "no file: usage, exit 2"
st sigma-import "$T_TMP/nonexistent.yml"
is "$RC" 1 "a missing file: exit 1"
like "$ERR" "nonexistent.yml: No such file or directory" "a missing file: said"
printf 'title: x\nid: [\n' >"$T_TMP/bad.yml"
st sigma-import "$T_TMP/bad.yml"
is "$RC" 1 "a YAML error: exit 1"
like "$ERR" "bad.yml:[0-9]+:[0-9]+: " "a YAML error: with its position"

done_testing
