#!/usr/bin/env python3
"""tests/notify.py DIR: a systemd notification socket for the tests.

Binds DIR/notify.sock (an AF_UNIX datagram socket, what systemd gives a
Type=notify service in $NOTIFY_SOCKET) and appends every datagram to
DIR/notify.log, one line per assignment, prefixed with the seconds since
it started ("1.234 READY=1"). Runs until killed."""
import os
import socket
import sys
import time


def main():
    d = sys.argv[1]
    path = os.path.join(d, "notify.sock")
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    t0 = time.monotonic()
    with open(os.path.join(d, "port"), "w") as f:
        f.write("0\n")  # tests/lib.sh's t_start waits for this file
    with open(os.path.join(d, "notify.log"), "a", buffering=1) as log:
        while True:
            data = s.recv(65536).decode("utf-8", "replace")
            for line in data.split("\n"):
                if line:
                    log.write("%.3f %s\n" % (time.monotonic() - t0, line))


if __name__ == "__main__":
    main()
