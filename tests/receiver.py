#!/usr/bin/env python3
"""receiver.py: a real HTTP webhook receiver for the daemon tests and the demo.

    python3 tests/receiver.py DIR [--port-file F] [--script "500,500,200"]
                                  [--retry-after N] [--key HMACKEY]

Listens on 127.0.0.1 (a free port, written to DIR/port), appends every POST
to DIR/received.jsonl as one line: {"status": S, "body": <the JSON body>,
"sig_ok": true|false|null, "t": unix seconds}. The status answered for the
n-th POST is the n-th entry of --script (the last one repeats; default 200);
429 answers carry Retry-After: N. sig_ok checks X-Smtrail-Signature against
--key (null without a key). GET /NAME serves DIR/www/NAME. SIGTERM stops
it. Stdlib only.
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--script", default="200")
    p.add_argument("--retry-after", default="1")
    p.add_argument("--key")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    script = [int(x) for x in a.script.split(",")]
    lock = threading.Lock()
    state = {"n": 0}
    out = open(os.path.join(a.dir, "received.jsonl"), "a", buffering=1)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Two writes per answer: without this each POST waits 40 ms for
        # the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            # Files under DIR/www (an SNS signing certificate, say).
            path = os.path.join(a.dir, "www", os.path.basename(self.path))
            try:
                data = open(path, "rb").read()
                self.send_response(200)
            except OSError:
                data = b"not found"
                self.send_response(404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(n)
            with lock:
                i = state["n"]
                state["n"] += 1
            status = script[min(i, len(script) - 1)]
            sig_ok = None
            if a.key is not None:
                want = "sha256=" + hmac.new(a.key.encode(), raw, hashlib.sha256).hexdigest()
                sig_ok = hmac.compare_digest(want, self.headers.get("X-Smtrail-Signature", ""))
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with lock:
                out.write(json.dumps({"status": status, "body": body,
                                      "sig_ok": sig_ok, "t": time.time()}) + "\n")
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", a.retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H)
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    import signal
    signal.signal(signal.SIGTERM, lambda *x: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
