#!/usr/bin/env python3
"""A fake of OpenAI's Responses API (`POST /v1/responses`, server-sent events), enough for Codex
(`wire_api = "responses"`) to run one turn that needs the user's approval.

- A request whose newest input is the user's message gets a function call `exec_command` of
  CMD that asks for escalation (`sandbox_permissions: require_escalated`), so Codex asks the
  client before it runs it; `login: false`, so the command runs without a login shell.
- A request whose newest input is that call's output gets the assistant message DONE.
- A side request without tools (Codex's title for the thread) gets a JSON title.

Every request is appended to LOG as one JSON line. Usage: fake-responses.py LOG [CMD]. It listens
on a free loopback port and prints "LISTENING <port>" first.
"""
import itertools
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
CMD = sys.argv[2] if len(sys.argv) > 2 else "touch tests_ran.txt && echo tests passed"
DONE = "The tests ran and passed."
numbers = itertools.count(1)


def answers_a_call(body):
    """Whether the newest input (after the user's last message) is a call's output."""
    for item in reversed(body.get("input") or []):
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call_output":
            return True
        if item.get("type") == "message" and item.get("role") == "user":
            return False
    return False


def message(n, text):
    return {"type": "message", "id": f"msg_{n}", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        n = next(numbers)
        with open(LOG, "a") as log:
            log.write(json.dumps({"n": n, "path": self.path, "body": body}) + "\n")
        if not self.path.rstrip("/").endswith("/responses") or not isinstance(body, dict):
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        fmt = (body.get("text") or {}).get("format") or {}
        if "tools" not in body or fmt.get("type") == "json_schema":
            item = message(n, json.dumps({"title": "Run the tests"}))
        elif answers_a_call(body):
            item = message(n, DONE)
        else:
            arguments = {"cmd": CMD, "sandbox_permissions": "require_escalated",
                         "justification": "Run the test suite", "login": False}
            item = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}",
                    "status": "completed", "name": "exec_command",
                    "arguments": json.dumps(arguments)}
        response = {"id": f"resp_{n}", "object": "response", "model": body.get("model")}
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 15}
        events = [
            {"type": "response.created", "sequence_number": 0,
             "response": {**response, "status": "in_progress", "output": []}},
            {"type": "response.output_item.done", "sequence_number": 1, "output_index": 0,
             "item": item},
            {"type": "response.completed", "sequence_number": 2,
             "response": {**response, "status": "completed", "output": [item], "usage": usage}},
        ]
        payload = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
        payload = payload.encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()
