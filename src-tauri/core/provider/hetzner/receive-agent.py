#!/usr/bin/python3
"""SAM's first stage on a new server, for builds that publish no agent: it receives the agent
binary from the app and keeps exactly the one whose SHA-256 the server's user_data pins.

Usage: receive-agent.py SHA256 DEST PORT TIMEOUT_SECS

Listens on PORT (443, the agent's port, the only one the firewall opens) for
`PUT /sam-agent` with the binary as the body, at most 128 MiB. A body whose SHA-256 is not
SHA256 is thrown away (422) and the stage keeps listening; the first one that matches is moved
to DEST (mode 0600) and the stage exits 0 without running anything. After TIMEOUT_SECS without
a match it exits 1. Nothing it receives is ever run by it; the boot script verifies the file
again before installing it.

Why plain HTTP is enough: the binary is public (it is the app's own build) and its integrity
comes from the pinned checksum, which arrived with user_data through Hetzner's API over TLS. A
party on the path can only withhold the binary, which it could do to TLS too.
"""

import hashlib
import http.server
import os
import sys
import tempfile
import threading

LIMIT = 128 * 1024 * 1024
CHUNK = 1024 * 1024

WANT, DEST, PORT, TIMEOUT = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
received = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    # A client that stops sending is dropped, so it cannot hold the stage.
    timeout = 60

    def do_GET(self):
        self.answer(200, "SAM first stage: waiting for the agent binary\n")

    def do_PUT(self):
        if self.path != "/sam-agent":
            return self.answer(404, "only PUT /sam-agent\n")
        if received.is_set():
            return self.answer(409, "the agent was received already\n")
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.answer(411, "a Content-Length is required\n")
        if length <= 0 or length > LIMIT:
            return self.answer(413, f"the body must be 1 to {LIMIT} bytes\n")
        digest = hashlib.sha256()
        fd, part = tempfile.mkstemp(dir=os.path.dirname(DEST), prefix=".sam-agent.")
        try:
            with os.fdopen(fd, "wb") as out:
                left = length
                while left:
                    chunk = self.rfile.read(min(CHUNK, left))
                    if not chunk:
                        raise ConnectionError("the body ended early")
                    digest.update(chunk)
                    out.write(chunk)
                    left -= len(chunk)
            got = digest.hexdigest()
            if got != WANT:
                os.unlink(part)
                return self.answer(422, f"checksum mismatch: expected {WANT}, got {got}\n")
            os.replace(part, DEST)
        except BaseException:
            if os.path.exists(part):
                os.unlink(part)
            raise
        received.set()
        self.answer(200, "received\n")

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("receive-agent: %s %s\n" % (self.address_string(), fmt % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    os.umask(0o077)
    # IPv4, where the app reaches the server.
    server = Server(("0.0.0.0", PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ok = received.wait(TIMEOUT)
    server.shutdown()
    server.server_close()
    if not ok:
        sys.stderr.write(f"receive-agent: no matching agent within {TIMEOUT} s\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
