#!/usr/bin/python3
"""A fake GitHub for tests, in GitHub's wire format: the OAuth device flow
(`POST /login/device/code`, `POST /login/oauth/access_token` — which, like GitHub, answers
errors such as `authorization_pending` with HTTP 200), and `GET /user`. Test hooks:
`POST /__fake/approve` and `POST /__fake/deny` with `user_code=…` play the user in the
browser. It prints its base URL first.

Usage: fake-github.py [EXPIRES_IN_SECONDS]
"""

import http.server
import json
import secrets
import sys
import threading
import urllib.parse

EXPIRES_IN = int(sys.argv[1]) if len(sys.argv) > 1 else 900
LOCK = threading.Lock()
DEVICES = {}  # device_code -> {"user_code", "state": pending|approved|denied, "polls"}
TOKENS = {}  # access token -> user
USER = {"login": "octo-user", "id": 583231, "name": "Octo User"}


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))

    def do_POST(self):
        form = self.form()
        with LOCK:
            if self.path == "/login/device/code":
                if form.get("client_id") != "sam-test-client":
                    return self.reply(404, {"error": "Not Found"})
                device = secrets.token_hex(16)
                user_code = secrets.token_hex(2).upper() + "-" + secrets.token_hex(2).upper()
                DEVICES[device] = {"user_code": user_code, "state": "pending", "polls": 0}
                host = self.headers.get("Host")
                return self.reply(200, {
                    "device_code": device,
                    "user_code": user_code,
                    "verification_uri": f"http://{host}/login/device",
                    "expires_in": EXPIRES_IN,
                    "interval": 1,
                })
            if self.path == "/login/oauth/access_token":
                device = DEVICES.get(form.get("device_code", ""))
                if device is None:
                    return self.reply(200, {"error": "bad_verification_code",
                                            "error_description": "The device_code is wrong."})
                device["polls"] += 1
                if EXPIRES_IN <= 1 and device["polls"] > 1:
                    return self.reply(200, {"error": "expired_token",
                                            "error_description": "The device code has expired."})
                if device["state"] == "denied":
                    return self.reply(200, {"error": "access_denied",
                                            "error_description": "The user has denied your application access."})
                if device["state"] == "pending":
                    return self.reply(200, {"error": "authorization_pending",
                                            "error_description": "The authorization request is still pending."})
                token = "gho_" + secrets.token_hex(18)
                TOKENS[token] = USER
                del DEVICES[form["device_code"]]
                return self.reply(200, {"access_token": token, "token_type": "bearer", "scope": "repo"})
            if self.path in ("/__fake/approve", "/__fake/deny"):
                for device in DEVICES.values():
                    if device["user_code"] == form.get("user_code"):
                        device["state"] = "approved" if self.path.endswith("approve") else "denied"
                        return self.reply(200, {"ok": True})
                return self.reply(404, {"error": "no such user_code"})
        return self.reply(404, {"message": "Not Found"})

    def do_GET(self):
        if self.path == "/user":
            auth = self.headers.get("Authorization", "")
            token = auth.split(" ", 1)[1] if " " in auth else ""
            with LOCK:
                user = TOKENS.get(token)
            if user is None:
                return self.reply(401, {"message": "Bad credentials",
                                        "documentation_url": "https://docs.github.com/rest"})
            return self.reply(200, dict(user, type="User"))
        return self.reply(404, {"message": "Not Found"})

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
