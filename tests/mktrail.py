#!/usr/bin/env python3
"""mktrail.py: write a CloudTrail log file of N generated Secrets Manager events.

    python3 tests/mktrail.py OUT --events N [--id-prefix P] [--event-name NAME]
                             [--start 2026-11-25T09:10:00Z] [--step-seconds S]
                             [--gzip | --plain] [--secret-prefix NAME] [--noise K]
                             [--template FILE]

The template is the DeleteSecret record of
$SMTRAIL_SHARED_DATA/cloudtrail/secretsmanager/aws-docs_secretsmanager.json
(default $TOP_SRCDIR/../shared/data/..., TOP_SRCDIR defaulting to this file's
parent directory), or the first record of --template FILE. Record i (from 1)
gets eventID P-00000i (default P: mktrail), eventName NAME (default
DeleteSecret), eventTime START + (i-1)*S seconds (default S: 1), awsRegion
us-east-1, readOnly false, no errorCode/errorMessage, requestParameters.secretId
NAME-i and responseElements {"arn": "arn:aws:secretsmanager:us-east-1:
123456789012:secret:NAME-i"} (NAME: --secret-prefix, default mktrail-secret).
With --noise K, K EC2 DescribeInstances records (eventSource ec2.amazonaws.com,
eventIDs P-noise-00000i-k) follow each Secrets Manager record, at its time.

OUT ("-": standard output) is gzipped unless --plain; the gzip header has
mtime 0 and no name, so equal arguments give equal bytes. The JSON is compact,
one record a line inside {"Records":[...]}. 100,000 events take a few seconds.
Stdlib only.
"""
import argparse
import calendar
import gzip
import json
import os
import sys
import time

PH = "\x00MKTRAIL-%s\x00"  # placeholders, replaced after one json.dumps


def die(msg):
    sys.stderr.write("mktrail.py: %s\n" % msg)
    sys.exit(1)


def default_template():
    top = os.environ.get("TOP_SRCDIR") or os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    shared = os.environ.get("SMTRAIL_SHARED_DATA") or os.path.join(top, "..", "shared", "data")
    return os.path.join(shared, "cloudtrail", "secretsmanager", "aws-docs_secretsmanager.json")


def load_template(path, explicit):
    try:
        with open(path) as f:
            records = json.load(f)["Records"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die("%s: cannot read a CloudTrail file: %s" % (path, e))
    if explicit:
        if not records:
            die("%s: no records" % path)
        return records[0]
    for r in records:
        if r.get("eventName") == "DeleteSecret":
            return r
    die("%s: no DeleteSecret record" % path)


def compile_record(rec, fields):
    """rec serialised once, split at the placeholders: [text, field, text, ...]."""
    text = json.dumps(rec, separators=(",", ":"))
    out = []
    for part in text.split("\\u0000MKTRAIL-"):
        if not out:
            out.append(part)
            continue
        name, rest = part.split("\\u0000", 1)
        assert name in fields, name
        out.extend([name, rest])
    return out


def render(parts, values):
    return "".join(values[p] if i % 2 else p for i, p in enumerate(parts))


def parse_time(s):
    try:
        return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        die("--start %r: want YYYY-MM-DDTHH:MM:SSZ" % s)


def js(s):
    """s as the inside of a JSON string."""
    return json.dumps(s)[1:-1]


def main():
    p = argparse.ArgumentParser(prog="mktrail.py", description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--id-prefix", default="mktrail")
    p.add_argument("--event-name", default="DeleteSecret")
    p.add_argument("--start", default="2026-11-25T09:10:00Z")
    p.add_argument("--step-seconds", type=int, default=1)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--gzip", dest="gzip", action="store_true", default=True)
    g.add_argument("--plain", dest="gzip", action="store_false")
    p.add_argument("--secret-prefix", default="mktrail-secret")
    p.add_argument("--noise", type=int, default=0)
    p.add_argument("--template")
    a = p.parse_args()
    if a.events < 0 or a.noise < 0:
        die("--events and --noise must be >= 0")

    tpl = load_template(a.template or default_template(), a.template is not None)
    sm = dict(tpl)
    for k in ("errorCode", "errorMessage"):
        sm.pop(k, None)
    sm["eventName"] = a.event_name
    sm["eventID"] = PH % "id"
    sm["eventTime"] = PH % "time"
    sm["awsRegion"] = "us-east-1"
    sm["readOnly"] = False
    rp = dict(sm.get("requestParameters") or {})
    rp["secretId"] = PH % "name"
    sm["requestParameters"] = rp
    sm["responseElements"] = {
        "arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + PH % "name"}
    sm_parts = compile_record(sm, ("id", "time", "name"))

    noise = {k: tpl[k] for k in ("eventVersion", "userIdentity", "recipientAccountId")
             if k in tpl}
    noise.update({
        "eventTime": PH % "time", "eventSource": "ec2.amazonaws.com",
        "eventName": "DescribeInstances", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10", "userAgent": "mktrail",
        "requestParameters": {"instancesSet": {}, "filterSet": {}},
        "responseElements": None, "requestID": PH % "id", "eventID": PH % "id",
        "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True,
        "eventCategory": "Management"})
    noise_parts = compile_record(noise, ("id", "time"))

    prefix, secret = js(a.id_prefix), js(a.secret_prefix)
    t = parse_time(a.start)

    def records():
        for i in range(1, a.events + 1):
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + (i - 1) * a.step_seconds))
            yield render(sm_parts, {"id": "%s-%06d" % (prefix, i), "time": ts,
                                    "name": "%s-%d" % (secret, i)})
            for k in range(1, a.noise + 1):
                yield render(noise_parts, {"id": "%s-noise-%06d-%d" % (prefix, i, k),
                                           "time": ts})

    raw = sys.stdout.buffer if a.out == "-" else open(a.out + ".tmp", "wb")
    f = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) \
        if a.gzip else raw
    batch = ['{"Records":[']
    sep = "\n"
    for r in records():
        batch.append(sep)
        batch.append(r)
        sep = ",\n"
        if len(batch) >= 4096:
            f.write("".join(batch).encode())
            batch = []
    batch.append("\n]}\n")
    f.write("".join(batch).encode())
    if a.gzip:
        f.close()
    if a.out == "-":
        raw.flush()
    else:
        raw.close()
        os.rename(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
