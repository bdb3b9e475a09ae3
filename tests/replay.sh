#!/bin/sh
# smtrail replay over the real shared samples and hostile files. The expected
# alert sets come from jq reading the same files independently.
. "$(dirname "$0")/lib.sh"
SM="$DATA/cloudtrail/secretsmanager"
ALL="$DATA/cloudtrail/corpus/combined/all-sources.json.gz"
need "$SM/combined_secretsmanager.json" "$SM/combined_secretsmanager.json.gz" "$ALL" \
    "$SM/aws-docs_kms-calls-made-by-secretsmanager.json"

cat >"$T_TMP/every.yaml" <<'YAML'
rules:
  - id: every
    match:
      eventSource: secretsmanager.amazonaws.com
  - id: denied
    severity: error
    match:
      errorCode: {exists: true}
  - id: reads
    match:
      eventName: [GetSecretValue, BatchGetSecretValue]
      readOnly: true
YAML
R="$T_TMP/every.yaml"
ids() { jq -r '[.rule, (.eventID // "-"), (.eventName // "-")] | join(" ")'; }

# 1. Every Secrets Manager record, in file order, from .json and .json.gz.
st replay --no-state -r "$R" "$SM/combined_secretsmanager.json"
is "$RC" 0 "plain sample: exit 0"
printf '%s\n' "$OUT" | ids >"$T_TMP/got-plain"
st replay --no-state -r "$R" "$SM/combined_secretsmanager.json.gz"
is "$RC" 0 "gzip sample: exit 0"
printf '%s\n' "$OUT" | ids >"$T_TMP/got-gz"
is "$(cmp -s "$T_TMP/got-plain" "$T_TMP/got-gz" && echo same)" same \
    ".json and .json.gz give the same alerts"
jq -r '.Records[] | ["every", (.eventID // "-"), (.eventName // "-")] | join(" ")' \
    "$SM/combined_secretsmanager.json" >"$T_TMP/want-every"
is "$(grep '^every ' "$T_TMP/got-gz")" "$(cat "$T_TMP/want-every")" \
    "rule 'every': one alert per Secrets Manager record, in order (52)"
is "$(grep -c '^every ' "$T_TMP/got-gz")" 52 "52 records matched"
jq -r '.Records[] | select(.errorCode != null) | ["denied", (.eventID // "-"), .eventName] | join(" ")' \
    "$SM/combined_secretsmanager.json" >"$T_TMP/want-denied"
is "$(grep '^denied ' "$T_TMP/got-gz")" "$(cat "$T_TMP/want-denied")" \
    "rule 'denied': exactly the records with an errorCode"
jq -r '.Records[] | select((.eventName == "GetSecretValue" or .eventName == "BatchGetSecretValue") and .readOnly == true) | ["reads", (.eventID // "-"), .eventName] | join(" ")' \
    "$SM/combined_secretsmanager.json" >"$T_TMP/want-reads"
is "$(grep '^reads ' "$T_TMP/got-gz")" "$(cat "$T_TMP/want-reads")" \
    "rule 'reads': list any-of and a boolean"

# 2. The whole corpus: only the 38 Secrets Manager events, none of the rest.
st replay --no-state -r "$R" "$ALL"
is "$RC" 0 "corpus: exit 0"
got=$(printf '%s\n' "$OUT" | jq -r 'select(.rule == "every") | .eventID // "-"')
want=$(gzip -dc "$ALL" | jq -r '.Records[] | select(.eventSource == "secretsmanager.amazonaws.com") | .eventID // "-"')
is "$got" "$want" "corpus: exactly the Secrets Manager records"
is "$(printf '%s\n' "$got" | wc -l)" 38 "corpus: 38 of 814"

# 3. KMS calls made by Secrets Manager mention it everywhere; not its events.
st replay --no-state -r "$R" "$SM/aws-docs_kms-calls-made-by-secretsmanager.json"
is "$RC" 0 "KMS-by-Secrets-Manager: exit 0"
is "$OUT" "" "KMS-by-Secrets-Manager: no alerts"

# 4. Output fields (the contract in smtrail(8)).
st replay --no-state -r "$R" "$DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json"
line=$(printf '%s\n' "$OUT" | grep '"eventName":"DeleteSecret"' | head -1)
is "$(printf '%s' "$line" | jq -r 'keys_unsorted | join(",")')" \
    "rule,title,severity,summary,eventID,eventName,eventTime,awsRegion,recipientAccountId,secretId,principal,sourceIPAddress,errorCode,group" \
    "alert fields and order"
is "$(printf '%s' "$line" | jq -r .secretId)" \
    "$(jq -r '.Records[] | select(.eventName == "DeleteSecret") | .responseElements.aRN' \
    "$DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json")" \
    "secretId from the legacy responseElements.aRN"
line=$(printf '%s\n' "$OUT" | grep '"eventName":"RotationFailed"' | head -1)
is "$(printf '%s' "$line" | jq -r .secretId)" \
    "arn:aws:secretsmanager:us-east-2:123456789012:secret:MyDatabaseSecret-a1b2c3" \
    "secretId from additionalEventData.SecretId"
is "$(printf '%s' "$line" | jq -r .principal)" "secretsmanager.amazonaws.com" \
    "principal of a service event is invokedBy"

# 5. Hostile files: each is an error for that file only.
mkdir -p "$T_TMP/mix"
cp "$SM/combined_secretsmanager.json.gz" "$T_TMP/mix/a-good.json.gz"
head -c 3000 "$SM/combined_secretsmanager.json.gz" >"$T_TMP/mix/b-truncated.json.gz"
printf '{"Records":[{"eventSource":"secretsmanager.amazonaws.com","eventName":"DeleteSecret"' \
    >"$T_TMP/mix/c-cut.json"
printf 'not json at all' >"$T_TMP/mix/d-garbage.json"
: >"$T_TMP/mix/e-empty.json"
printf '{"Records":[{"eventSource":"secretsmanager.amazonaws.com","eventID":"z-1","eventName":"X","requestParameters":{"v":"}]}{\\"\\\\"}}]}' \
    >"$T_TMP/mix/f-braces.json"
cp "$SM/combined_secretsmanager.json" "$T_TMP/mix/g-good.json"
mkdir -p "$T_TMP/mix/CloudTrail-Digest" "$T_TMP/mix/sub"
printf 'digest' >"$T_TMP/mix/CloudTrail-Digest/x.json.gz"
printf 'ignored' >"$T_TMP/mix/sub/notes.txt"
st replay --no-state -r "$R" "$T_TMP/mix"
is "$RC" 1 "a bad file among good ones: exit 1"
# The truncated file's complete records still alert (they are real events);
# count them independently of our scanner.
partial=$(python3 -c '
import json, sys, zlib
d = zlib.decompressobj(31).decompress(open(sys.argv[1], "rb").read()).decode("utf-8", "replace")
i = d.index("[", d.index("\"Records\"")) + 1
dec, n = json.JSONDecoder(), 0
while True:
    while i < len(d) and d[i] in " \t\r\n,": i += 1
    try: _, i = dec.raw_decode(d, i)
    except ValueError: break
    n += 1
print(n)' "$T_TMP/mix/b-truncated.json.gz")
is "$(printf '%s\n' "$OUT" | grep -c '"rule":"every"')" $((52 + 52 + 1 + partial)) \
    "good files, the braces file and the truncated file's complete records all alert (52+52+1+$partial)"
like "$ERR" "b-truncated.json.gz: .*gzip.* byte [0-9]+" "truncated gzip: file and byte"
like "$ERR" "c-cut.json: .*truncated.* byte [0-9]+" "truncated JSON: file and byte"
like "$ERR" "d-garbage.json: .*byte [0-9]+" "garbage: file and byte"
like "$ERR" "e-empty.json: .*empty" "empty file"
unlike "$ERR" "Digest|notes.txt" "digests and non-log files are not read"
is "$(printf '%s\n' "$OUT" | jq -r 'select(.eventID == "z-1") | .eventName')" X \
    "braces, quotes and backslashes in strings keep the record whole"
st replay --no-state -r "$R" /nonexistent/file.json.gz "$SM/combined_secretsmanager.json.gz"
is "$RC" 1 "missing file: exit 1"
is "$(printf '%s\n' "$OUT" | grep -c '"rule":"every"')" 52 "missing file: the rest still scanned"
like "$ERR" '/nonexistent/file.json.gz: .*No such file' "missing file named"

# 6. The demo file through the default rule pack: exactly these alerts
# (a harmless read and a KMS call by Secrets Manager: none; the policy
# allows Principal "*" with no condition: public as well as changed).
st replay -r "$TOP_SRCDIR/etc/smtrail/rules.yaml" "$TOP_SRCDIR/tests/data/demo"
is "$RC" 0 "demo: exit 0"
is "$(printf '%s\n' "$OUT" | jq -r '[.rule, .severity, .eventID] | join(" ")')" \
"secret-read-denied warning demo-0002-0000-4000-8000-000000000000
rotation-failed error demo-0004-0000-4000-8000-000000000000
resource-policy-changed error demo-0005-0000-4000-8000-000000000000
resource-policy-public critical demo-0005-0000-4000-8000-000000000000
secret-deleted critical demo-0006-0000-4000-8000-000000000000
replication-added warning demo-0007-0000-4000-8000-000000000000
secret-tags-changed warning demo-0008-0000-4000-8000-000000000000" \
    "demo: the default pack's exact alerts"
is "$(printf '%s\n' "$OUT" | jq -r 'select(.rule == "secret-deleted") | .group')" \
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api/key-XyZ123" \
    "demo: a deletion is grouped by the secret's ARN"

# 7. --stats
st replay --no-state --stats -r "$R" "$ALL"
like "$ERR" '^records: 814 scanned, [0-9]+ candidates, 38 Secrets Manager$' "--stats counts records"
like "$ERR" '^files: 1 \(0 failed\)$' "--stats counts files"
like "$ERR" 'MB/s' "--stats gives throughput"
done_testing
