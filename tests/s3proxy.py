#!/usr/bin/env python3
"""s3proxy.py: a fault-injecting HTTP proxy in front of moto's S3, for the tests.

    python3 tests/s3proxy.py DIR --upstream http://127.0.0.1:MOTO_PORT [--keys FILE]

Listens on 127.0.0.1 (a free port, written to DIR/port). Point the daemon's S3
at it (AWS_ENDPOINT_URL_S3=http://127.0.0.1:PORT) and leave SQS on moto.

Each request is forwarded byte for byte: the request line as received (no
normalisation of `..`, `//` or %2F: SigV4 signs the raw path and moto checks it),
every header unchanged, Host included, and a Content-Length body (chunked
request bodies are not supported). The answer is relayed unchanged. A client
connection is kept open for its next request while both sides allow it.

The fault mode is read from DIR/mode at every request. Each line is
`MODE [SUBSTRING]`: the first line whose SUBSTRING occurs in the raw request
path (or that has none) applies; no such line, or no file, means pass. Write
it atomically (DIR/mode.tmp, then mv): a file caught half-written reads as pass.
    pass      forward to the upstream
    503       answer `503 Service Unavailable`, Content-Length: 0, no body
    slowdown  answer 503 with S3's SlowDown XML error (application/xml)
    hold      keep the request unanswered until the mode for it is something
              else (DIR/mode polled every 0.1 s), then handle it per that mode;
              DIR/holding has the number of requests held right now
    reset     close the connection without an answer (RST: SO_LINGER 0)
    kms       S3's answers for an SSE-KMS object whose key the caller may not
              use: GET of an object (no query) is 403 AccessDenied naming
              kms:Decrypt; HEAD is forwarded and its answer gains
              x-amz-server-side-encryption: aws:kms and
              x-amz-server-side-encryption-aws-kms-key-id (KMS_KEY_ARN); other
              requests pass
    region BUCKET=REGION [bare]
              real S3's strictness about regions, which moto lacks: a request
              for BUCKET (path-style: the first path segment) signed for
              another region (the Authorization credential scope) is answered
              301 PermanentRedirect with x-amz-bucket-region: REGION (S3's XML
              error body; none for HEAD). With `bare`, only HeadBucket (HEAD
              /BUCKET) gets the header; other requests get the 301 without
              it (what makes an SDK ask HeadBucket). Every `region` line is
              checked first; a request it lets through goes on to the others.

--keys FILE works around moto's signature checker, which rebuilds the query
decoded and so refuses every correct signature over a query value with '/'
(ListObjectsV2 prefix=AWSLogs%2F, delimiter=%2F; boto3's too): a GET whose
query has %2F and whose access key id is in FILE ("KEYID SECRET" lines) is
forwarded with '/' in the query and signed again the way moto checks it
(botocore's S3SigV4Auth over the raw URL, same date, headers and scope).
The request still reaches moto signed with that user's key, so moto's IAM
policy checks apply; our own query signing is checked against botocore in
tests/test_sigv4.c.

Every request is appended to DIR/requests.jsonl as one line, once it is done:
{"t": unix seconds when it was read, "method": M, "path": the raw request
target, "mode": the mode that answered it (never "hold" unless the client
left while held), "held": seconds held, "status": status sent, or null if
none}. An unreachable upstream is answered 502. SIGTERM stops it. Stdlib only
(--keys imports botocore).
"""
import argparse
import json
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import uuid

MODES = ("pass", "503", "slowdown", "hold", "reset", "kms")
KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0e5ee3e1-7d0b-4c52-9a5b-6f0c1d2e3f40"
MAX_HEAD = 64 * 1024
IDLE = 60.0       # seconds a kept-alive client connection may sit idle
UPSTREAM_TIMEOUT = 60.0
POLL = 0.1


class Closed(Exception):
    """The peer closed the connection (or it broke) mid-message."""


class Reader:
    """Buffered reads from a socket: heads up to CRLF CRLF, exact lengths, lines."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def head(self, first=False):
        """Bytes up to and including the blank line; None on a clean EOF when first."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return out
            if len(self.buf) > MAX_HEAD:
                raise Closed()
            try:
                self.fill()
            except Closed:
                if first and not self.buf:
                    return None
                raise

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return out
            if len(self.buf) > MAX_HEAD:
                raise Closed()
            self.fill()

    def chunks(self, size=65536):
        """Whatever is buffered, then everything until EOF."""
        if self.buf:
            out, self.buf = self.buf, b""
            yield out
        while True:
            data = self.sock.recv(size)
            if not data:
                return
            yield data


def parse_head(head):
    """(first line as str, {lowercase name: value}) of a request or response head."""
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs


def keep_alive(version, hdrs):
    conn = hdrs.get("connection", "").lower()
    if version == "HTTP/1.1":
        return "close" not in conn
    return "keep-alive" in conn


class Proxy:
    def __init__(self, d, upstream, keys=None):
        self.dir = d
        self.keys_file = keys
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise SystemExit("s3proxy.py: --upstream must be http://HOST:PORT")
        self.up = (u.hostname, u.port or 80)
        self.lock = threading.Lock()
        self.holding = 0
        self.warned = set()
        self.log = open(os.path.join(d, "requests.jsonl"), "a", buffering=1)
        self.set_holding(0)

    # --- mode -----------------------------------------------------------
    def mode_text(self):
        try:
            with open(os.path.join(self.dir, "mode"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wrong_region(self, method, path, hdrs):
        """The bucket's region when a `region` line says the request is signed
        for another one, else None."""
        bucket = path.split("?", 1)[0].split("/")[1] if path.startswith("/") else ""
        scope = hdrs.get("authorization", "").split("Credential=", 1)
        signed = scope[1].split("/")[2] if len(scope) > 1 and scope[1].count("/") >= 3 else ""
        for ln in self.mode_text().splitlines():
            parts = ln.strip().split()
            if len(parts) < 2 or parts[0] != "region" or "=" not in parts[1]:
                continue
            b, region = parts[1].split("=", 1)
            if b == bucket and signed != region:
                head_bucket = method == "HEAD" and path.split("?", 1)[0] in (
                    "/" + bucket, "/" + bucket + "/")
                bare = "bare" in parts[2:] and not head_bucket
                return region, bare
        return None, False

    def mode_for(self, path):
        text = self.mode_text()
        if not text:
            return "pass"
        for ln in text.splitlines():
            parts = ln.strip().split(None, 1)
            if not parts or parts[0] == "region":
                continue
            mode = parts[0]
            if len(parts) > 1 and parts[1] not in path:
                continue
            if mode not in MODES:
                if mode not in self.warned:
                    self.warned.add(mode)
                    sys.stderr.write("s3proxy.py: unknown mode %r, passing\n" % mode)
                return "pass"
            return mode
        return "pass"

    def set_holding(self, delta):
        with self.lock:
            self.holding += delta
            tmp = os.path.join(self.dir, "holding.tmp")
            with open(tmp, "w") as f:
                f.write("%d\n" % self.holding)
            os.rename(tmp, os.path.join(self.dir, "holding"))

    def record(self, **kw):
        with self.lock:
            self.log.write(json.dumps(kw) + "\n")

    # --- one client connection --------------------------------------------
    def serve(self, sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(IDLE)
        rd = Reader(sock)
        try:
            while self.one(sock, rd):
                pass
        except (Closed, OSError, ValueError):  # ValueError: a garbled head
            pass

    def one(self, sock, rd):
        """Serves one request; True if the connection stays open for another."""
        head = rd.head(first=True)
        if head is None:
            return False
        t = time.time()
        first, hdrs = parse_head(head)
        parts = first.split(" ")
        if len(parts) != 3:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return False
        method, path, version = parts
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            self.record(t=t, method=method, path=path, mode="pass", held=0.0, status=501)
            sock.sendall(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return False
        body = rd.exact(int(hdrs.get("content-length") or 0))
        ka = keep_alive(version, hdrs)

        region, bare = self.wrong_region(method, path, hdrs)
        mode = "region" if region else self.mode_for(path)
        held = 0.0
        if mode == "hold":
            h0 = time.monotonic()
            self.set_holding(1)
            try:
                while mode == "hold":
                    if self.client_gone(sock, rd):
                        break
                    time.sleep(POLL)
                    mode = self.mode_for(path)
            finally:
                self.set_holding(-1)
                held = round(time.monotonic() - h0, 3)
            if mode == "hold":
                self.record(t=t, method=method, path=path, mode="hold", held=held,
                            status=None)
                return False

        status = None
        try:
            if mode == "region":
                # S3's answer to a request signed for the wrong region.
                rid = uuid.uuid4().hex[:16].upper()
                bucket = path.split("?", 1)[0].split("/")[1]
                xml = b"" if method == "HEAD" else (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect'
                    '</Code><Message>The bucket you are attempting to access must be '
                    'addressed using the specified endpoint. Please send all future '
                    'requests to this endpoint.</Message><Endpoint>%s.s3.%s.amazonaws.com'
                    '</Endpoint><Bucket>%s</Bucket><RequestId>%s</RequestId></Error>'
                    % (bucket, region, bucket, rid)).encode()
                sock.sendall(b"HTTP/1.1 301 Moved Permanently\r\n"
                             + (b"" if bare else
                                b"x-amz-bucket-region: " + region.encode() + b"\r\n")
                             + b"x-amz-request-id: " + rid.encode() + b"\r\n"
                             + (b"Content-Type: application/xml\r\n" if xml else b"")
                             + b"Content-Length: " + str(len(xml)).encode() + b"\r\n"
                             + (b"" if ka else b"Connection: close\r\n") + b"\r\n"
                             + (b"" if method == "HEAD" else xml))
                status = 301
                return ka
            if mode == "kms" and method == "GET" and "?" not in path:
                rid = uuid.uuid4().hex[:16].upper()
                xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                       '<Message>User: arn:aws:iam::123456789012:user/smtrail is not '
                       'authorized to perform: kms:Decrypt on resource: %s because no '
                       'identity-based policy allows the kms:Decrypt action</Message>'
                       '<RequestId>%s</RequestId></Error>' % (KMS_KEY_ARN, rid)).encode()
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                             b"x-amz-request-id: " + rid.encode() + b"\r\n"
                             b"Content-Length: " + str(len(xml)).encode() + b"\r\n"
                             + (b"" if ka else b"Connection: close\r\n") + b"\r\n" + xml)
                status = 403
                return ka
            if mode == "reset":
                # Closed here, not by socketserver: its shutdown(SHUT_WR) would
                # send a FIN first.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return False
            if mode == "503":
                sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                             + (b"" if ka else b"Connection: close\r\n") + b"\r\n")
                status = 503
                return ka
            if mode == "slowdown":
                rid = uuid.uuid4().hex[:16].upper()
                xml = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                       '<Message>Please reduce your request rate.</Message>'
                       '<RequestId>%s</RequestId></Error>' % rid).encode()
                sock.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                             b"x-amz-request-id: " + rid.encode() + b"\r\n"
                             b"Content-Length: " + str(len(xml)).encode() + b"\r\n"
                             + (b"" if ka else b"Connection: close\r\n") + b"\r\n" + xml)
                status = 503
                return ka
            extra = b""
            if mode == "kms" and method == "HEAD":
                extra = (b"x-amz-server-side-encryption: aws:kms\r\n"
                         b"x-amz-server-side-encryption-aws-kms-key-id: "
                         + KMS_KEY_ARN.encode() + b"\r\n")
            head = self.resign(method, path, hdrs, head)
            status, up_ka = self.forward(sock, method, head, body, extra)
            return ka and up_ka
        finally:
            self.record(t=t, method=method, path=path, mode=mode, held=held, status=status)

    def client_gone(self, sock, rd):
        """While a request is held: has the client closed its side?"""
        sock.settimeout(0)
        try:
            data = sock.recv(65536, socket.MSG_PEEK)
            if not data:
                return True
        except BlockingIOError:
            pass
        except OSError:
            return True
        finally:
            sock.settimeout(IDLE)
        return False

    def resign(self, method, path, hdrs, head):
        """moto's checker workaround (see --keys): the head to send upstream."""
        if not self.keys_file or method != "GET" or "?" not in path:
            return head
        target, query = path.split("?", 1)
        if "%2F" not in query.upper():
            return head
        auth = hdrs.get("authorization", "")
        try:
            cred = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            key, region, service = cred[0], cred[2], cred[3]
            signed = auth.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
            with open(self.keys_file) as f:
                keys = dict(ln.split(None, 1) for ln in f.read().splitlines() if ln.strip())
        except (IndexError, OSError, ValueError):
            return head
        if key not in keys:
            return head
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        query = query.replace("%2F", "/").replace("%2f", "/")
        new_path = target + "?" + query
        first, rest = head.decode("latin-1").split("\r\n", 1)
        req = AWSRequest(method=method, url="http://%s%s" % (hdrs.get("host", ""), new_path),
                         headers={k: v for k, v in hdrs.items() if k in signed})
        req.context["timestamp"] = hdrs.get("x-amz-date", "")
        a = S3SigV4Auth(Credentials(key, keys[key].strip(), hdrs.get("x-amz-security-token")),
                        service, region)
        sig = a.signature(a.string_to_sign(req, a.canonical_request(req)), req)
        new_auth = auth.rsplit("Signature=", 1)[0] + "Signature=" + sig
        lines = [ln for ln in rest.split("\r\n")]
        lines = ["Authorization: " + new_auth if ln.lower().startswith("authorization:") else ln
                 for ln in lines]
        m, _, v = first.split(" ")
        return ("%s %s %s\r\n" % (m, new_path, v) + "\r\n".join(lines)).encode("latin-1")

    def forward(self, sock, method, head, body, extra=b""):
        """Relays the request upstream and the answer back: (status, keep-alive ok)."""
        try:
            up = socket.create_connection(self.up, timeout=UPSTREAM_TIMEOUT)
        except OSError:
            sock.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return 502, False
        with up:
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.sendall(head + body)
            ur = Reader(up)
            while True:
                rhead = ur.head()
                first, hdrs = parse_head(rhead)
                if extra and not 100 <= int(first.split(" ")[1]) < 200:
                    rhead = rhead[:-2] + extra + b"\r\n"
                sock.sendall(rhead)
                status = int(first.split(" ")[1])
                if 100 <= status < 200:
                    continue  # an interim answer (100 Continue): the real one follows
                break
            version = first.split(" ")[0]
            if method == "HEAD" or status in (204, 304):
                framed = True
            elif "chunked" in hdrs.get("transfer-encoding", "").lower():
                framed = True
                while True:
                    ln = ur.line()
                    sock.sendall(ln)
                    n = int(ln.split(b";")[0].strip(), 16)
                    if n == 0:
                        while True:  # trailers, then the blank line
                            ln = ur.line()
                            sock.sendall(ln)
                            if ln == b"\r\n":
                                break
                        break
                    sock.sendall(ur.exact(n + 2))
            elif "content-length" in hdrs:
                framed = True
                left = int(hdrs["content-length"])
                while left > 0:
                    if not ur.buf:
                        ur.fill()
                    piece, ur.buf = ur.buf[:left], ur.buf[left:]
                    sock.sendall(piece)
                    left -= len(piece)
            else:
                framed = False  # ends when the upstream closes
                for data in ur.chunks():
                    sock.sendall(data)
            return status, framed and keep_alive(version, hdrs)


def main():
    p = argparse.ArgumentParser(prog="s3proxy.py", description=__doc__.split("\n")[0])
    p.add_argument("dir")
    p.add_argument("--upstream", required=True, help="http://HOST:PORT")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--keys", help="KEYID SECRET lines (see above)")
    a = p.parse_args()
    proxy = Proxy(a.dir, a.upstream, a.keys)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            proxy.serve(self.request)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    srv = Server(("127.0.0.1", a.port), Handler)
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(a.dir, "port"))
    signal.signal(signal.SIGTERM, lambda *x: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
