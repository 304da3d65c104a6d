"""A local HTTP server on 127.0.0.1 standing in for a webhook destination, with scripted faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TIMEOUT = 0.3  # the webhook client's timeout in these tests; the "slow" fault answers after 3 timeouts


class FaultServer:
    """Answers each request with the next scripted action: ok, 500, 400, 429:<seconds>, slow, drop."""

    def __init__(self, script: list[str], default: str = "ok") -> None:
        self.script = list(script)
        self.default = default
        self.received: list[dict[str, Any]] = []  # successfully answered requests: key and body
        self.keys: list[str] = []  # Idempotency-Key of every request, answered or not
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                action = outer.script.pop(0) if outer.script else outer.default
                outer.keys.append(self.headers["Idempotency-Key"])
                length = int(self.headers["Content-Length"])
                if action == "drop":  # read half the batch, then hang up without an answer
                    self.rfile.read(length // 2)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                body = json.loads(self.rfile.read(length))
                if action == "slow":
                    time.sleep(TIMEOUT * 3)
                if action.startswith("429"):
                    self.send_response(429)
                    self.send_header("Retry-After", action.partition(":")[2])
                elif action in ("500", "400"):
                    self.send_response(int(action))
                else:
                    outer.received.append({"key": self.headers["Idempotency-Key"], "body": body})
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/audiences"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[FaultServer] = []

    def make(script: list[str], default: str = "ok") -> FaultServer:
        servers.append(FaultServer(script, default))
        return servers[-1]

    yield make
    for s in servers:
        s.close()
