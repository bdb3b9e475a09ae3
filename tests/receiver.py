#!/usr/bin/env python3
"""receiver.py: a real HTTP webhook receiver for the daemon tests and the demo.

    python3 tests/receiver.py DIR [--port N] [--script "500,500,200"] [--script-file F]
                                  [--retry-after N] [--key HMACKEY] [--delay SECONDS]
                                  [--delay-file F]

Listens on 127.0.0.1 (a free port unless --port, written to DIR/port), appends
every POST to DIR/received.jsonl as one line: {"status": S, "body": <the JSON
body>, "sig_ok": true|false|null, "t": unix seconds when answered, "t0": unix
seconds when it arrived, "delivery_id": its X-Smtrail-Delivery-Id header or
null}; the line is written just before the answer is sent. The status
answered for the n-th POST is the n-th entry of --script (the last one
repeats; default 200); with --script-file it is the integer in F, read at
each POST (unreadable: 200), so a test can turn a running receiver from
failing to succeeding. Each POST is answered --delay seconds after it arrived
(default 0; with --delay-file, the number in F read at each POST), several at
once (a thread per connection); its arrival is appended at once to
DIR/arrivals.jsonl as {"t0": ..., "delivery_id": ...}. 429 answers carry
Retry-After: N. sig_ok checks X-Smtrail-Signature against --key (null
without a key). GET /NAME serves DIR/www/NAME. GET /confirm?QUERY plays
SNS's ConfirmSubscription: it answers the status in DIR/confirm-status (200
if absent) with a small XML body. Every GET is appended to DIR/gets.jsonl
as {"path": <path and query as sent>, "status": S, "t": unix seconds}.
SIGTERM stops it. Stdlib only.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time


def scripted_status(path):
    """The status in --script-file: its integer, or 200 if it has none."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 200


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--script", default="200")
    p.add_argument("--retry-after", default="1")
    p.add_argument("--key")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--script-file")
    p.add_argument("--delay-file")
    a = p.parse_args()
    script = [int(x) for x in a.script.split(",")]
    lock = threading.Lock()
    state = {"n": 0}
    out = open(os.path.join(a.dir, "received.jsonl"), "a", buffering=1)
    arrivals = open(os.path.join(a.dir, "arrivals.jsonl"), "a", buffering=1)
    gets = open(os.path.join(a.dir, "gets.jsonl"), "a", buffering=1)

    def delay_now():
        if a.delay_file is None:
            return a.delay
        try:
            with open(a.delay_file) as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            return a.delay

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Two writes per answer: without this each POST waits 40 ms for
        # the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.split("?", 1)[0] == "/confirm":
                # SNS's ConfirmSubscription, as far as a test needs it.
                status = scripted_status(os.path.join(a.dir, "confirm-status"))
                data = (b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult>"
                        b"<SubscriptionArn>arn:aws:sns:us-east-1:123456789012:t:1"
                        b"</SubscriptionArn></ConfirmSubscriptionResult>"
                        b"</ConfirmSubscriptionResponse>")
            else:
                # Files under DIR/www (an SNS signing certificate, say).
                path = os.path.join(a.dir, "www", os.path.basename(self.path))
                try:
                    data = open(path, "rb").read()
                    status = 200
                except OSError:
                    data = b"not found"
                    status = 404
            with lock:
                gets.write(json.dumps({"path": self.path, "status": status,
                                       "t": time.time()}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            t0 = time.time()
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            with lock:
                arrivals.write(json.dumps({"t0": t0, "delivery_id":
                                           self.headers.get("X-Smtrail-Delivery-Id")}) + "\n")
            delay = delay_now()
            with lock:
                i = state["n"]
                state["n"] += 1
            status = script[min(i, len(script) - 1)]
            if a.script_file is not None:
                status = scripted_status(a.script_file)
            sig_ok = None
            if a.key is not None:
                want = "sha256=" + hmac.new(a.key.encode(), raw, hashlib.sha256).hexdigest()
                sig_ok = hmac.compare_digest(want, self.headers.get("X-Smtrail-Signature", ""))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if delay > 0:
                time.sleep(max(0.0, t0 + delay - time.time()))
            with lock:
                out.write(json.dumps({"status": status, "body": body,
                                      "sig_ok": sig_ok, "t": time.time(), "t0": t0,
                                      "delivery_id": self.headers.get("X-Smtrail-Delivery-Id")})
                          + "\n")
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", a.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that went away (a killed daemon): not news

    srv = Server(("127.0.0.1", a.port), H)
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    import signal
    signal.signal(signal.SIGTERM, lambda *x: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
