"""A Slack stand-in: a real HTTP server on 127.0.0.1 that accepts incoming-webhook posts and keeps them."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SlackPost:
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    def all_text(self) -> str:
        """Everything a reader would see, flattened (for assertions and the demo report)."""
        return json.dumps(self.body, ensure_ascii=False)


class SlackStandIn:
    """Answers like Slack's webhook endpoint: 200 "ok"; `fail_next(n, status)` injects failures (429, 4xx or 5xx)."""

    def __init__(self) -> None:
        self.posts: list[SlackPost] = []
        self.rejected: list[int] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with stand_in._lock:
                    failure = stand_in._failures.pop(0) if stand_in._failures else None
                    if failure is None:
                        try:
                            body = json.loads(raw or b"{}")
                        except ValueError:
                            failure = 400
                        else:
                            stand_in.posts.append(SlackPost(self.path, body, dict(self.headers)))
                    if failure is not None:
                        stand_in.rejected.append(failure)
                status, reply = (200, b"ok") if failure is None else (failure, b"invalid_payload")
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def do_GET(self) -> None:
                """The stand-in's own read side (Slack has none): GET /posts?after=N, the posts from index N on, as
                JSON, for `mlrollout sandbox alerts` in another process."""
                path, _, query = self.path.partition("?")
                if path != "/posts":
                    self.send_error(404)
                    return
                params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
                after = int(params.get("after", "0") or 0)
                with stand_in._lock:
                    posts = [{"index": i, "text": p.text, "body": p.body} for i, p in enumerate(stand_in.posts)]
                reply = json.dumps(posts[after:]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # keep test and demo output clean
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/services/T0SANDBOX/B0SANDBOX/sandbox-webhook"

    @property
    def posts_url(self) -> str:
        """Where another process reads the posts (`do_GET`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/posts"

    def start(self) -> SlackStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def reset(self) -> None:
        """Forget what was posted and refused, and any failure still armed (a server shared between tests)."""
        with self._lock:
            self.posts.clear()
            self.rejected.clear()
            self._failures.clear()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
