"""A webhook receiver for Keyward's tests.

It verifies every delivery with the Standard Webhooks reference implementation for Python (the
`standardwebhooks` package from PyPI), independent of the server's Rust code, and appends what
it saw to a log, one JSON object per line.

    python webhook_receiver.py <dir>

It listens on 127.0.0.1 on a free port and writes the port to <dir>/port. Secrets are read
from <dir>/secrets.json ({"<path>": "whsec_..."}) on every request, so the test can add an
endpoint after the receiver started. What it answers depends on the path's first segment:
/ok/... 204; /flaky/... 500 the first time it sees a message id, then 204; /gone/... 410;
/slow/... 204 after 3 s (each request's arrival is noted at once in <dir>/arrived.jsonl).
As a sign-in hook: /hook/allow/... lets the sign-in through with claims {"plan": "pro",
"seen": <the address it was asked about>}; /hook/deny/... refuses it; /hook/slow/... answers
after 3 s; /hook/broken/... answers 500.
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

DIR = sys.argv[1]
SEEN = set()


def secrets():
    try:
        with open(os.path.join(DIR, "secrets.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        secret = secrets().get(self.path)
        verified, error, payload = False, None, None
        try:
            if secret is None:
                raise ValueError("no secret for " + self.path)
            payload = Webhook(secret).verify(body, headers)
            verified = True
        except Exception as e:  # a failed verification is what the test looks for
            error = f"{type(e).__name__}: {e}"
        msg_id = headers.get("webhook-id")
        mode = self.path.split("/")[1]
        with open(os.path.join(DIR, "arrived.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": self.path, "id": msg_id}) + "\n")
        if mode == "slow":
            time.sleep(3)
        answer = b""
        if mode == "hook":
            kind = self.path.split("/")[2]
            if kind == "slow":
                time.sleep(3)
            if kind == "deny":
                answer = json.dumps({"allow": False, "reason": "Your account is on hold."})
            else:
                seen = (payload or {}).get("data", {}).get("email")
                answer = json.dumps({"allow": True, "claims": {"plan": "pro", "seen": seen}})
            answer = answer.encode()
            status = 500 if kind == "broken" else 200
        elif mode == "gone":
            status = 410
        elif mode == "flaky" and (self.path, msg_id) not in SEEN:
            status = 500
        else:
            status = 204
        SEEN.add((self.path, msg_id))
        record = {
            "path": self.path,
            "id": msg_id,
            "verified": verified,
            "error": error,
            "answered": status,
            "payload": payload,
        }
        with open(os.path.join(DIR, "received.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(DIR, "port.tmp"), "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
