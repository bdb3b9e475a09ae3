#!/usr/bin/env python3
"""tests/mkrec.py: a CloudTrail log file of crafted Secrets Manager events.

    mkrec.py OUT SPEC...

Each SPEC is one event, fields separated by ',' as key=value:
  n   eventName (required)         id  eventID (required)
  t   eventTime: HH:MM:SS on 2026-11-25, or D+HH:MM:SS for D days later,
      or a whole ISO 8601 time (2026-12-07T10:00:00Z)
  p   principal: an IAM user name (userIdentity.arn ...:user/<p>), or a
      whole ARN; "role:<name>" makes an AssumedRole session of that role
  s   secret (requestParameters.secretId; "arn" as ARN of prod/<s>)
  r   awsRegion (default us-east-1)    e   errorCode
  a   recipientAccountId (default 123456789012)
  ua  userAgent (default aws-cli/2.15)
  k   requestParameters.kmsKeyId     b  BatchGetSecretValue secretIdList
      (names joined by '+')
  fd  requestParameters.forceDeleteWithoutRecovery (true or false)
The events are written in the order given (out of order on purpose when
the times say so). OUT ending in .gz is gzipped.
"""
import gzip
import json
import sys


def when(t):
    if "T" in t:
        return t  # a whole ISO 8601 time
    day = 25
    if "+" in t:
        d, t = t.split("+", 1)
        day += int(d)
    return "2026-11-%02dT%sZ" % (day, t)


def record(spec):
    f = dict(kv.split("=", 1) for kv in spec.split(","))
    acct = f.get("a", "123456789012")
    p = f.get("p", "alice")
    if p.startswith("role:"):
        role = p[5:]
        ident = {"type": "AssumedRole", "accountId": acct,
                 "arn": "arn:aws:sts::%s:assumed-role/%s/session-%s" % (acct, role, f["id"]),
                 "sessionContext": {"sessionIssuer": {
                     "type": "Role", "accountId": acct,
                     "arn": "arn:aws:iam::%s:role/%s" % (acct, role)}}}
    elif p.startswith("arn:"):
        ident = {"type": "IAMUser", "accountId": acct, "arn": p}
    else:
        ident = {"type": "IAMUser", "accountId": acct,
                 "arn": "arn:aws:iam::%s:user/%s" % (acct, p)}
    region = f.get("r", "us-east-1")
    rp = {}
    if "s" in f:
        s = f["s"]
        if s.startswith("arn/"):
            s = "arn:aws:secretsmanager:%s:%s:secret:prod/%s-AbCdEf" % (region, acct, s[4:])
        rp["secretId"] = s
    if "k" in f:
        rp["kmsKeyId"] = f["k"]
    if "fd" in f:
        rp["forceDeleteWithoutRecovery"] = f["fd"] == "true"
    if "b" in f:
        rp["secretIdList"] = f["b"].split("+")
    r = {"eventVersion": "1.09", "userIdentity": ident,
         "eventTime": when(f.get("t", "09:00:00")),
         "eventSource": "secretsmanager.amazonaws.com",
         "eventName": f["n"], "awsRegion": region,
         "sourceIPAddress": "203.0.113.7",
         "userAgent": f.get("ua", "aws-cli/2.15"),
         "requestParameters": rp or None, "responseElements": None,
         "eventID": f["id"], "readOnly": f["n"].startswith("Get"),
         "eventType": "AwsApiCall", "recipientAccountId": acct}
    if f["n"].startswith("Rotation"):
        r["eventType"] = "AwsServiceEvent"
        r["userIdentity"] = {"accountId": acct, "invokedBy": "secretsmanager.amazonaws.com"}
        r["requestParameters"] = None
        r["additionalEventData"] = {"SecretId": rp.get("secretId", "")}
    if "e" in f:
        r["errorCode"] = f["e"]
        r["errorMessage"] = "User is not authorized to perform " + f["n"]
    return r


def main():
    out = sys.argv[1]
    data = json.dumps({"Records": [record(s) for s in sys.argv[2:]]}).encode()
    if out.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(out, "wb") as fh:
        fh.write(data)


if __name__ == "__main__":
    main()
