"""A stand-in for llama_cpp.server in a real process, for the supervisor tests: it speaks
/v1/models and streaming /v1/chat/completions, and misbehaves on request like native code can.

python tests/fake_model_server.py --port N --reply "Text [1]." [--delay 0.05]
    [--on-request crash-sigill|hang|none] [--marker FILE]
--marker: a file that gets one line per start (so a test can count restarts and see the env).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--reply", default="Herr Kahlen nahm am 13. Juni 2016 teil. [1]")
    ap.add_argument("--delay", type=float, default=0.05, help="seconds between words")
    ap.add_argument("--on-request", default="none", choices=["none", "crash-sigill", "hang"])
    ap.add_argument("--marker", default="")
    args = ap.parse_args()
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(json.dumps({"pid": os.getpid(),
                                "lib": os.environ.get("LLAMA_CPP_LIB_PATH")}) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "local"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if args.on_request == "crash-sigill":
                os.kill(os.getpid(), signal.SIGILL)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, word in enumerate(args.reply.split(" ")):
                if args.on_request == "hang" and i == 2:
                    time.sleep(3600)
                event = {"choices": [{"delta": {"content": (" " if i else "") + word}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                time.sleep(args.delay)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
