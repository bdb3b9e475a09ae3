#!/usr/bin/env python3
"""pipeline.py: the AWS side of bench/pipeline, against tests/moto.py's moto.

    pipeline.py put DIR BUCKET PREFIX FILE...      upload, 4 threads at a time
    pipeline.py publish DIR TOPIC BUCKET RATE OUT KEY...
        one CloudTrail notification per key through SNS, RATE a second
        (0: as fast as moto takes them); OUT gets {"key", "t"} per line
    pipeline.py drain DIR QUEUE_URL N
        receive and delete N messages (10 a call) as fast as moto allows:
        with publish, the mock's own floor, no smtrail involved
    pipeline.py receiver DIR [receiver.py options]
        tests/receiver.py, with Nagle's algorithm off on its sockets
    pipeline.py report PUBLISHED RECEIVED IDS_DIR EXPECTED [OVER_TIME]
        publish-to-webhook latency of every alert, and the time from the
        first publish to the last alert; IDS_DIR/<key>.ids maps eventIDs to
        objects. EXPECTED: replay's "rule eventID" lines over the same
        objects; every one must arrive, exactly once, except those of the
        rules in OVER_TIME (comma-separated: rules over time, whose alerts
        depend on the order the files are read in, which replay and the
        daemon do not share here: the generator's files are days apart in
        random order). Those are counted and shown, not required.
        Prints "# " lines for people, then one key=value line.

The keys and clients come from DIR/env, through tests/moto.py's own helpers
(signature checking stays on). Stdlib and boto3 only.
"""
import importlib.util
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def motoctl():
    path = os.path.join(HERE, "..", "tests", "moto.py")
    spec = importlib.util.spec_from_file_location("smtrail_motoctl", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def parallel(n, items, work):
    """work(client_state, item) over items from n threads; first error wins."""
    lock = threading.Lock()
    it = iter(items)
    errors = []

    def run():
        state = {}
        while True:
            with lock:
                if errors:
                    return
                try:
                    item = next(it)
                except StopIteration:
                    return
            try:
                work(state, item)
            except Exception as e:  # reported once, below
                with lock:
                    errors.append(e)
                return

    ts = [threading.Thread(target=run) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def cmd_put(d, bucket, prefix, files):
    m = motoctl()
    env = m.need_env(d)

    def put(state, path):
        if "s3" not in state:
            state["s3"] = m.user_client(env, "s3")
        with open(path, "rb") as f:
            state["s3"].put_object(Bucket=bucket, Key=prefix + os.path.basename(path),
                                   Body=f.read(), ContentType="application/x-gzip")

    parallel(4, files, put)


def cmd_publish(d, topic, bucket, rate, out, keys):
    m = motoctl()
    env = m.need_env(d)
    rate = float(rate)
    start = time.time()
    lock = threading.Lock()
    f = open(out, "w", buffering=1)

    def publish(state, ik):
        i, key = ik
        if "sns" not in state:
            state["sns"] = m.user_client(env, "sns")
        if rate > 0:
            # A steady arrival rate: each at its slot, not as a burst.
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        msg = json.dumps({"s3Bucket": bucket, "s3ObjectKey": [key]}, separators=(",", ":"))
        t = time.time()
        state["sns"].publish(TopicArn=topic, Message=msg)
        with lock:
            f.write(json.dumps({"key": key, "t": t}) + "\n")

    parallel(8, list(enumerate(keys)), publish)
    f.close()


def cmd_drain(d, url, n):
    m = motoctl()
    sqs = m.user_client(m.need_env(d), "sqs")
    got = 0
    while got < n:
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        msgs = r.get("Messages", [])
        if not msgs:
            raise RuntimeError("queue empty after %d of %d messages" % (got, n))
        got += len(msgs)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": x["ReceiptHandle"]} for i, x in enumerate(msgs)])
    print("%.6f" % time.time())


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def cmd_report(published, received, ids_dir, expected_file, over_time=""):
    over = set(r for r in over_time.split(",") if r)
    want = {}
    for line in open(expected_file):
        rule, eid = line.split()
        want[(rule, eid)] = want.get((rule, eid), 0) + 1
    got = {}
    pub = {}
    for line in open(published):
        r = json.loads(line)
        pub[r["key"]] = r["t"]
    owner = {}
    for key in pub:
        base = os.path.basename(key)
        try:
            for line in open(os.path.join(ids_dir, base + ".ids")):
                owner[line.strip()] = key
        except OSError:
            pass
    lat = []
    last = 0.0
    n = 0
    unknown = 0
    for line in open(received):
        r = json.loads(line)
        if r.get("status", 500) >= 300 or not isinstance(r.get("body"), dict):
            continue
        n += 1
        k = (r["body"].get("rule"), r["body"].get("eventID"))
        got[k] = got.get(k, 0) + 1
        key = owner.get(r["body"].get("eventID"))
        if key is None:
            unknown += 1
            continue
        lat.append(r["t"] - pub[key])
        last = max(last, r["t"])
    first = min(pub.values()) if pub else 0.0
    pub_span = max(pub.values()) - first if pub else 0.0
    total = last - first if lat else float("nan")
    expected = sum(want.values())
    plain_want = {k: v for k, v in want.items() if k[0] not in over}
    plain_got = {k: v for k, v in got.items() if k[0] not in over}
    missing = sum(max(0, v - plain_got.get(k, 0)) for k, v in plain_want.items())
    extra = sum(max(0, v - plain_want.get(k, 0)) for k, v in plain_got.items())
    print("# %d objects published in %.1f s; %d alerts received of %s expected%s"
          % (len(pub), pub_span, n, expected,
             "" if unknown == 0 else " (%d not traced to an object)" % unknown))
    print("# rules alerting on every match: %d expected, %d missing, %d extra"
          % (sum(plain_want.values()), missing, extra))
    for rule in sorted(over):
        print("# %s (over time; depends on the order files are read): daemon %d, replay %d"
              % (rule, sum(v for k, v in got.items() if k[0] == rule),
                 sum(v for k, v in want.items() if k[0] == rule)))
    print("# first publish to last alert: %.1f s" % total)
    print("# publish-to-webhook latency: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms"
          % (pct(lat, 50) * 1e3, pct(lat, 90) * 1e3, pct(lat, 99) * 1e3,
             (max(lat) if lat else float("nan")) * 1e3))
    print("objects=%d alerts=%d expected=%s total_s=%.1f publish_s=%.1f p50_ms=%.0f "
          "p90_ms=%.0f p99_ms=%.0f max_ms=%.0f"
          % (len(pub), n, expected, total, pub_span, pct(lat, 50) * 1e3,
             pct(lat, 90) * 1e3, pct(lat, 99) * 1e3,
             (max(lat) if lat else float("nan")) * 1e3))
    return 0 if missing == 0 and extra == 0 and unknown == 0 else 1


def cmd_receiver(args):
    # receiver.py answers in two writes (headers, then the body); with
    # Nagle's algorithm on, the second waits for the client's delayed ACK:
    # 40 ms a POST, which would be the receiver's cost, not smtrail's. Real
    # endpoints answer in one segment or set TCP_NODELAY; so does this one.
    import socketserver
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    path = os.path.join(HERE, "..", "tests", "receiver.py")
    spec = importlib.util.spec_from_file_location("smtrail_receiver", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    sys.argv = [path] + args
    return m.main()


def main():
    a = sys.argv[1:]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    if len(a) >= 4 and a[0] == "put":
        cmd_put(a[1], a[2], a[3], a[4:])
    elif len(a) >= 7 and a[0] == "publish":
        cmd_publish(a[1], a[2], a[3], a[4], a[5], a[6:])
    elif len(a) == 4 and a[0] == "drain":
        cmd_drain(a[1], a[2], int(a[3]))
    elif len(a) >= 2 and a[0] == "receiver":
        return cmd_receiver(a[1:])
    elif len(a) in (5, 6) and a[0] == "report":
        return cmd_report(*a[1:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
