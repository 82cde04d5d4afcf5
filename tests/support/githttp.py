"""Git smart HTTP through `git http-backend`, for the test servers (git-http-server.py and
fake-github.py): `serve(handler, root, user)` answers the request `handler` holds from the bare
repositories under `root`; `basic_password(handler)` reads the HTTP Basic credentials."""

import base64
import os
import subprocess


def basic_password(handler):
    """(user, password) from the request's Basic credentials, or None."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    return user, password


def refuse(handler):
    """401 with a Basic challenge, as GitHub answers a private repository without credentials."""
    handler.send_response(401)
    handler.send_header("WWW-Authenticate", 'Basic realm="git"')
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def serve(handler, root, user):
    path, _, query = handler.path.partition("?")
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    env = dict(
        os.environ,
        GIT_PROJECT_ROOT=root,
        GIT_HTTP_EXPORT_ALL="1",
        PATH_INFO=path,
        QUERY_STRING=query,
        REQUEST_METHOD=handler.command,
        CONTENT_TYPE=handler.headers.get("Content-Type", ""),
        CONTENT_LENGTH=str(len(body)),
        HTTP_CONTENT_ENCODING=handler.headers.get("Content-Encoding", ""),
        GIT_PROTOCOL=handler.headers.get("Git-Protocol", ""),
        REMOTE_USER=user,
        REMOTE_ADDR="127.0.0.1",
    )
    out = subprocess.run(
        ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
    ).stdout
    separator = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
    head, _, payload = out.partition(separator)
    status, headers = 200, []
    for line in head.decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        elif key:
            headers.append((key, value.strip()))
    handler.send_response(status)
    for key, value in headers:
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
