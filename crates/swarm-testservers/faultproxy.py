#!/usr/bin/env python3
"""An HTTP/1.1 proxy for tests that makes some requests fail the way a flaky service does.

    faultproxy.py LISTEN_PORT UPSTREAM_PORT FAIL_EVERY DROP_EVERY MAX_FAULTS LOG

Requests are numbered from 1 in arrival order. Until MAX_FAULTS faults have been made, request
n is answered `503 Service Unavailable` when FAIL_EVERY > 0 and n % FAIL_EVERY == 0, or else
its connection is closed without an answer (a dropped connection) when DROP_EVERY > 0 and
n % DROP_EVERY == 0. Every other request is forwarded to 127.0.0.1:UPSTREAM_PORT unchanged and
the answer passed back. Every request is
logged to LOG as `n METHOD PATH OUTCOME`, OUTCOME being the upstream status, `503`, `drop` or
`hang`.

With FAULTPROXY_HANG=TEXT in the environment, a GET whose path contains TEXT is never answered
(the connection is held open, as by a server or mount that has hung): a store whose marker
answers while its shard reads hang.
"""

import http.client
import os
import time
import http.server
import sys
import threading

LISTEN, UPSTREAM, FAIL_EVERY, DROP_EVERY, MAX_FAULTS = (int(a) for a in sys.argv[1:6])
LOG = open(sys.argv[6], "a", buffering=1)
HANG = os.environ.get("FAULTPROXY_HANG")
LOCK = threading.Lock()
COUNT = 0
FAULTS = 0
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "content-length"}


def fate():
    """This request's number and what to do with it: "503", "drop" or "forward"."""
    global COUNT, FAULTS
    with LOCK:
        COUNT += 1
        n = COUNT
        what = "forward"
        if FAULTS < MAX_FAULTS:
            if FAIL_EVERY and n % FAIL_EVERY == 0:
                what = "503"
            elif DROP_EVERY and n % DROP_EVERY == 0:
                what = "drop"
        if what != "forward":
            FAULTS += 1
        return n, what


def log(n, method, path, outcome):
    with LOCK:
        LOG.write(f"{n} {method} {path} {outcome}\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def forward(self):
        if HANG and self.command == "GET" and HANG in self.path:
            log(0, self.command, self.path, "hang")
            while True:
                time.sleep(3600)
        n, what = fate()
        body = self.body()
        if what == "503":
            log(n, self.command, self.path, "503")
            self.send_response(503, "Service Unavailable")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if what == "drop":
            log(n, self.command, self.path, "drop")
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        finally:
            upstream.close()
        log(n, self.command, self.path, resp.status)
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


for method in ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "MKCOL", "MOVE", "COPY",
               "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK"):
    setattr(Proxy, "do_" + method, Proxy.forward)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


Server(("127.0.0.1", LISTEN), Proxy).serve_forever()
