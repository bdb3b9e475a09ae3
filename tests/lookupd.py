#!/usr/bin/env python3
"""lookupd.py: a small CloudTrail LookupEvents server for the lookup tests
(moto 5.2.1 has no LookupEvents).

    python3 tests/lookupd.py DIR --events FILE --key AKID --secret SECRET
                             [--rate 2] [--port N]

Listens on 127.0.0.1 (a free port unless --port, written to DIR/port) and
answers POST / with X-Amz-Target
com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents in the
JSON 1.1 protocol, as botocore's model (2013-11-01) documents it:

- every request's SigV4 signature is recomputed with botocore (SigV4Auth,
  service cloudtrail, the region of its credential scope, the known key and
  secret, the request's own X-Amz-Date and signed headers); a bad or
  missing one is answered 403 {"__type": "...#InvalidSignatureException"}.
  So is a date more than 15 minutes off.
- FILE (read at each request, so a test can add events) holds CloudTrail
  records: a JSON list, or {"Records": [...]}. The region's events are
  those whose awsRegion is the signing region and whose eventSource is the
  requested AttributeValue, with StartTime <= eventTime <= EndTime
  (inclusive, epoch seconds), newest first (ties: later in FILE first);
  pages of MaxResults (1-50, default 50) with an opaque NextToken that is
  valid only with the same parameters (else InvalidNextTokenException).
  StartTime after EndTime: InvalidTimeRangeException.
- more than --rate requests per second per region (a token bucket of
  --rate tokens, refilled at --rate a second): HTTP 400
  {"__type": "ThrottlingException", "message": "Rate exceeded"}. A number N
  in DIR/throttle makes the next N requests (any region) throttled too
  (the file is rewritten with what is left).
- every request is appended to DIR/requests.jsonl: {"region", "t" (arrival,
  unix seconds, float), "result" ("ok", "throttled", "forbidden",
  "invalid"), "start", "end", "token" (bool), "n" (events answered)}.

Each event is {"EventId", "EventName", "EventTime" (epoch seconds),
"EventSource", "ReadOnly", "Username", "Resources": [], "CloudTrailEvent":
the record as a JSON text}. SIGTERM stops it.
"""
import argparse
import base64
import calendar
import hashlib
import http.server
import json
import os
import sys
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
LOCK = threading.Lock()
BUCKETS = {}  # region -> [tokens, last refill time]


def epoch(t):
    t = t.rstrip("Z")
    frac = 0.0
    if "." in t:
        t, f = t.split(".", 1)
        frac = float("0." + f)
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%S")) + frac


def records(path):
    with open(path) as fh:
        data = json.load(fh)
    if isinstance(data, dict):
        data = data.get("Records", [])
    return data


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "lookupd-%d" % time.time_ns())
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, typ, msg, log):
        self.record(log)
        self.reply(status, {"__type": typ, "message": msg})

    def record(self, log):
        with LOCK:
            with open(os.path.join(self.server.dir, "requests.jsonl"), "a") as fh:
                fh.write(json.dumps(log) + "\n")

    def signature_ok(self, body):
        """The signing region when the signature checks, else None."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return None
        parts = dict(p.strip().split("=", 1)
                     for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        try:
            akid, day, region, service, term = parts["Credential"].split("/")
            signed = parts["SignedHeaders"].split(";")
            sig = parts["Signature"]
        except (KeyError, ValueError):
            return None
        amzdate = self.headers.get("X-Amz-Date", "")
        if (akid != self.server.key or service != "cloudtrail" or
                term != "aws4_request" or not amzdate.startswith(day)):
            return None
        try:
            skew = abs(time.time() - calendar.timegm(
                time.strptime(amzdate, "%Y%m%dT%H%M%SZ")))
        except ValueError:
            return None
        if skew > 900:
            return None
        hdrs = {}
        for h in signed:
            v = self.headers.get(h)
            if v is None:
                return None
            hdrs[h] = v
        req = AWSRequest(method=self.command,
                         url="http://%s%s" % (hdrs.get("host", "x"), self.path),
                         data=body, headers=hdrs)
        req.context["timestamp"] = amzdate
        sv = SigV4Auth(Credentials(self.server.key, self.server.secret,
                                   self.headers.get("X-Amz-Security-Token")),
                       "cloudtrail", region)
        if sorted(sv.headers_to_sign(req)) != sorted(signed):
            return None
        want = sv.signature(sv.string_to_sign(req, sv.canonical_request(req)),
                            req)
        return region if want == sig else None

    def throttled(self, region, now):
        with LOCK:
            tf = os.path.join(self.server.dir, "throttle")
            try:
                with open(tf) as fh:
                    n = int(fh.read().strip() or 0)
            except (OSError, ValueError):
                n = 0
            if n > 0:
                with open(tf + ".tmp", "w") as fh:
                    fh.write("%d\n" % (n - 1))
                os.rename(tf + ".tmp", tf)
                return True
            rate = self.server.rate
            tokens, last = BUCKETS.get(region, [rate, now])
            tokens = min(rate, tokens + (now - last) * rate)
            if tokens < 1:
                BUCKETS[region] = [tokens, now]
                return True
            BUCKETS[region] = [tokens - 1, now]
            return False

    def do_POST(self):
        now = time.time()
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        log = {"t": now, "region": None, "result": "forbidden"}
        region = self.signature_ok(body)
        if region is None:
            return self.error(403, "com.amazon.coral.service#"
                              "InvalidSignatureException",
                              "The request signature we calculated does not "
                              "match the signature you provided.", log)
        log["region"] = region
        log["result"] = "invalid"
        if (self.headers.get("X-Amz-Target") != TARGET or
                self.headers.get("Content-Type") !=
                "application/x-amz-json-1.1" or self.path != "/"):
            return self.error(400, "UnknownOperationException", "", log)
        if self.throttled(region, now):
            log["result"] = "throttled"
            return self.error(400, "ThrottlingException", "Rate exceeded", log)
        try:
            q = json.loads(body)
            attrs = q.get("LookupAttributes", [])
            if (len(attrs) != 1 or
                    attrs[0].get("AttributeKey") != "EventSource"):
                raise ValueError("LookupAttributes")
            source = attrs[0]["AttributeValue"]
            start = q["StartTime"]
            end = q["EndTime"]
            if not all(isinstance(x, (int, float)) for x in (start, end)):
                raise ValueError("times")
            size = q.get("MaxResults", 50)
            if not isinstance(size, int) or not 1 <= size <= 50:
                return self.error(400, "com.amazonaws.cloudtrail.v20131101#"
                                  "InvalidMaxResultsException", "MaxResults",
                                  log)
        except (ValueError, KeyError, TypeError, AttributeError):
            return self.error(400, "com.amazonaws.cloudtrail.v20131101#"
                              "InvalidLookupAttributesException", "bad", log)
        log.update(start=start, end=end, token="NextToken" in q)
        if start > end:
            return self.error(400, "com.amazonaws.cloudtrail.v20131101#"
                              "InvalidTimeRangeException",
                              "Start time must be before end time", log)
        key = json.dumps([region, source, start, end, size])
        offset = 0
        if "NextToken" in q:
            try:
                tok = json.loads(base64.b64decode(q["NextToken"]))
                if tok["k"] != hashlib.sha256(key.encode()).hexdigest():
                    raise ValueError("params")
                offset = int(tok["o"])
            except (ValueError, KeyError, TypeError):
                return self.error(400, "com.amazonaws.cloudtrail.v20131101#"
                                  "InvalidNextTokenException",
                                  "Invalid NextToken", log)
        evs = []
        for i, r in enumerate(records(self.server.events)):
            if r.get("awsRegion") != region or r.get("eventSource") != source:
                continue
            t = epoch(r["eventTime"])
            if start <= t <= end:
                evs.append((t, i, r))
        evs.sort(key=lambda e: (e[0], e[1]), reverse=True)
        page = evs[offset:offset + size]
        out = {"Events": [{
            "EventId": r.get("eventID"), "EventName": r.get("eventName"),
            "ReadOnly": "false", "EventTime": int(t) if t == int(t) else t,
            "EventSource": r.get("eventSource"), "Username": "alice",
            "Resources": [], "CloudTrailEvent": json.dumps(r)}
            for t, _, r in page]}
        if offset + size < len(evs):
            out["NextToken"] = base64.b64encode(json.dumps({
                "k": hashlib.sha256(key.encode()).hexdigest(),
                "o": offset + size}).encode()).decode()
        log.update(result="ok", n=len(page))
        self.record(log)
        self.reply(200, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--events", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--rate", type=float, default=2.0)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.dir, srv.events, srv.rate = a.dir, a.events, a.rate
    srv.key, srv.secret = a.key, a.secret
    with open(os.path.join(a.dir, "port.tmp"), "w") as fh:
        fh.write("%d\n" % srv.server_address[1])
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv.serve_forever()


if __name__ == "__main__":
    main()
