#!/usr/bin/python3
"""A fake GitHub for tests, in GitHub's wire format.

OAuth, as GitHub does it (errors such as `authorization_pending` come back with HTTP 200):
- the device flow: `POST /login/device/code`, `POST /login/oauth/access_token`;
- the authorization code with PKCE: `GET /login/oauth/authorize` plays a user who approves (or,
  after `POST /__fake/deny-next`, refuses) and redirects to `redirect_uri?code=…&state=…`;
  `POST /login/oauth/access_token` checks the client secret, the code (10 minutes, once) and the
  PKCE verifier;
- refreshing: `grant_type=refresh_token` (refresh tokens work once; the old access token dies);
- revoking: `DELETE /applications/{client_id}/token` with the app's Basic credentials.

REST: `GET /user`, `GET /user/repos` (130 repositories, every third private, paginated with a
`Link` header), `GET /repos/{owner}/{repo}/branches`.

Test hooks: `POST /__fake/approve` and `/__fake/deny` with `user_code=…` play the user of the
device flow; `POST /__fake/expire-codes` ages every authorization code past 10 minutes;
`POST /__fake/pat` mints a personal access token; `POST /__fake/revoke-all` plays the user
revoking the app at github.com/settings/applications (every token and refresh token dies);
`GET /__fake/stats` counts refreshes (and attempts) and revocations. It prints its base URL first.

Git: with GIT_ROOT, the bare repositories under it are served at `/{owner}/{repo}.git` through
`git http-backend` to requests whose Basic password is a live token (401 otherwise).

Usage: fake-github.py [DEVICE_CODE_EXPIRES_IN] [TOKEN_TTL] [GIT_ROOT]
TOKEN_TTL 0 (the default) gives tokens that never expire, like an OAuth app; more gives tokens
that expire after that many seconds with refresh tokens, like a GitHub app.
"""

import base64
import hashlib
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse

import githttp

EXPIRES_IN = int(sys.argv[1]) if len(sys.argv) > 1 else 900
TOKEN_TTL = int(sys.argv[2]) if len(sys.argv) > 2 else 0
GIT_ROOT = sys.argv[3] if len(sys.argv) > 3 else None
CLIENT_ID = "sam-test-client"
CLIENT_SECRET = "sam-test-secret"
LOCK = threading.Lock()
DEVICES = {}  # device_code -> {"user_code", "state": pending|approved|denied, "polls"}
CODES = {}  # authorization code -> {"challenge", "redirect_uri", "issued"}
TOKENS = {}  # access token -> user
REFRESH = {}  # refresh token -> access token it belongs to
STATS = {"refreshes": 0, "refresh_attempts": 0, "revoked": 0, "deny_next": False}
USER = {"login": "octo-user", "id": 583231, "name": "Octo User"}
REPOS = [
    {
        "full_name": f"octo-user/project-{n:03}",
        "name": f"project-{n:03}",
        "private": n % 3 == 0,
        "default_branch": "main",
        "description": f"Project number {n}" if n % 2 else None,
    }
    for n in range(130)
]


def issue_tokens():
    token = ("ghu_" if TOKEN_TTL else "gho_") + secrets.token_hex(18)
    TOKENS[token] = USER
    body = {"access_token": token, "token_type": "bearer", "scope": "" if TOKEN_TTL else "repo,read:user"}
    if TOKEN_TTL:
        refresh = "ghr_" + secrets.token_hex(30)
        REFRESH[refresh] = token
        body.update(expires_in=TOKEN_TTL, refresh_token=refresh,
                    refresh_token_expires_in=15897600)
    return body


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode()

    def bearer(self):
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        with LOCK:
            return TOKENS.get(token)

    def token_request(self, form):
        grant = form.get("grant_type")
        if grant in ("authorization_code", "refresh_token") and (
                form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET):
            return self.reply(200, {"error": "incorrect_client_credentials",
                                    "error_description": "The client_id and/or client_secret passed are incorrect."})
        if grant == "authorization_code":
            code = CODES.pop(form.get("code", ""), None)
            if code is None or time.time() - code["issued"] > 600:
                return self.reply(200, {"error": "bad_verification_code",
                                        "error_description": "The code passed is incorrect or expired."})
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != code["challenge"] or form.get("redirect_uri") != code["redirect_uri"]:
                return self.reply(200, {"error": "bad_verification_code",
                                        "error_description": "The code_verifier does not match the challenge."})
            return self.reply(200, issue_tokens())
        if grant == "refresh_token":
            STATS["refresh_attempts"] += 1
            old = REFRESH.pop(form.get("refresh_token", ""), None)
            if old is None:
                return self.reply(200, {"error": "bad_refresh_token",
                                        "error_description": "The refresh token passed is incorrect or expired."})
            TOKENS.pop(old, None)
            STATS["refreshes"] += 1
            return self.reply(200, issue_tokens())
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
        del DEVICES[form["device_code"]]
        return self.reply(200, issue_tokens())

    def git(self):
        """Serves git to live tokens; True when the request was a git request."""
        path = self.path.partition("?")[0]
        if GIT_ROOT is None or ".git/" not in path:
            return False
        credentials = githttp.basic_password(self)
        with LOCK:
            live = credentials is not None and credentials[1] in TOKENS
        if not live:
            githttp.refuse(self)
        else:
            githttp.serve(self, GIT_ROOT, credentials[0])
        return True

    def do_POST(self):
        if self.git():
            return
        form = dict(urllib.parse.parse_qsl(self.body()))
        with LOCK:
            if self.path == "/login/device/code":
                if form.get("client_id") != CLIENT_ID:
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
                return self.token_request(form)
            if self.path in ("/__fake/approve", "/__fake/deny"):
                for device in DEVICES.values():
                    if device["user_code"] == form.get("user_code"):
                        device["state"] = "approved" if self.path.endswith("approve") else "denied"
                        return self.reply(200, {"ok": True})
                return self.reply(404, {"error": "no such user_code"})
            if self.path == "/__fake/deny-next":
                STATS["deny_next"] = True
                return self.reply(200, {"ok": True})
            if self.path == "/__fake/pat":
                token = "ghp_" + secrets.token_hex(18)
                TOKENS[token] = USER
                return self.reply(200, {"token": token})
            if self.path == "/__fake/revoke-all":
                TOKENS.clear()
                REFRESH.clear()
                return self.reply(200, {"ok": True})
            if self.path == "/__fake/expire-codes":
                for code in CODES.values():
                    code["issued"] -= 601
                return self.reply(200, {"ok": True})
        return self.reply(404, {"message": "Not Found"})

    def do_DELETE(self):
        prefix = f"/applications/{CLIENT_ID}/token"
        if self.path != prefix:
            return self.reply(404, {"message": "Not Found"})
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization", "") != f"Basic {expected}":
            return self.reply(401, {"message": "Requires authentication"})
        token = json.loads(self.body() or "{}").get("access_token", "")
        with LOCK:
            if TOKENS.pop(token, None) is None:
                return self.reply(404, {"message": "Not Found"})
            STATS["revoked"] += 1
        return self.reply(204, None)

    def do_GET(self):
        if self.git():
            return
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        host = self.headers.get("Host")
        if url.path == "/login/oauth/authorize":
            if query.get("client_id") != CLIENT_ID:
                return self.reply(404, {"message": "Not Found"})
            redirect = query.get("redirect_uri", "")
            params = {"state": query.get("state", "")}
            with LOCK:
                if STATS["deny_next"]:
                    STATS["deny_next"] = False
                    params.update(error="access_denied",
                                  error_description="The user has denied your application access.")
                elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                    params.update(error="invalid_request", error_description="PKCE is required.")
                else:
                    code = secrets.token_hex(10)
                    CODES[code] = {"challenge": query["code_challenge"], "redirect_uri": redirect,
                                   "issued": time.time()}
                    params["code"] = code
            location = redirect + "?" + urllib.parse.urlencode(params)
            return self.reply(302, None, [("Location", location)])
        if url.path == "/__fake/stats":
            with LOCK:
                return self.reply(200, dict(STATS, tokens=len(TOKENS)))
        user = self.bearer()
        if user is None:
            return self.reply(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        if url.path == "/user":
            return self.reply(200, dict(user, type="User"))
        if url.path == "/user/repos":
            per_page = min(int(query.get("per_page", 30)), 100)
            page = max(int(query.get("page", 1)), 1)
            last = (len(REPOS) + per_page - 1) // per_page
            items = [dict(repo, clone_url=f"http://{host}/{repo['full_name']}.git",
                          html_url=f"http://{host}/{repo['full_name']}", owner={"login": USER["login"]})
                     for repo in REPOS[(page - 1) * per_page: page * per_page]]
            links = []
            base = f"http://{host}/user/repos?per_page={per_page}"
            if page < last:
                links.append(f'<{base}&page={page + 1}>; rel="next"')
            links.append(f'<{base}&page={last}>; rel="last"')
            return self.reply(200, items, [("Link", ", ".join(links))])
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "branches":
            full_name = f"{parts[1]}/{parts[2]}"
            if not any(repo["full_name"] == full_name for repo in REPOS):
                return self.reply(404, {"message": "Not Found"})
            names = ["main", "dev"] + [f"feature-{n}" for n in range(3)]
            return self.reply(200, [{"name": n, "commit": {"sha": "0" * 40}, "protected": False}
                                    for n in names])
        return self.reply(404, {"message": "Not Found"})

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
