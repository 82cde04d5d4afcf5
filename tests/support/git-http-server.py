#!/usr/bin/python3
"""A git smart-HTTP server for tests, like a private GitHub repository: it serves the bare
repositories under ROOT through `git http-backend`, but only to requests whose HTTP Basic
password is TOKEN (anything else gets 401, as GitHub answers). TOKEN `-` serves everyone, like
a public repository. It prints its port first.

Usage: git-http-server.py ROOT TOKEN
"""

import http.server
import sys

import githttp

ROOT, TOKEN = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.git()

    def do_POST(self):
        self.git()

    def git(self):
        credentials = githttp.basic_password(self)
        if TOKEN == "-":
            return githttp.serve(self, ROOT, credentials[0] if credentials else "")
        if credentials is None or credentials[1] != TOKEN:
            return githttp.refuse(self)
        githttp.serve(self, ROOT, credentials[0])

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
