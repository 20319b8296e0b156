"""A threaded HTTP server on a free loopback port with request counting and fault injection.

Each provider server subclasses `LocalServer` and implements ``route(path, query) -> Response``.
Faults are queued per path prefix and consumed in order by matching requests:

    server.faults.add("/api/v3/klines", Fault(status=429, headers={"Retry-After": "1"}))
    server.faults.add("/api/v3/klines", Fault(delay_s=3))          # longer than the client timeout
    server.faults.add("/api/v3/klines", Fault(body=b"{not json"))  # malformed body, status 200
    server.faults.add("/api/v3/klines", Fault(truncate_rows=17))   # a short page
    server.faults.add("/api/v3/klines", Fault(block=event))        # hold the request until set

``after`` lets a fault skip that many matching requests first (e.g. fail the third page), and
``match`` limits it to requests whose query holds those items (e.g. one page's ``startTime``):

    server.faults.add("/api/v3/klines", Fault(body=b"[]", match={"startTime": "1589328000000"}))

Every answer carries a ``Date`` header from `LocalServer.server_time_ms` (the machine's clock
unless a server overrides it, as the local Binance does with its fixed clock).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, payload: object, status: int = 200, **headers: str) -> Response:
        return cls(status, json.dumps(payload).encode(), dict(headers))


@dataclass
class Fault:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay_s: float = 0.0
    truncate_rows: int | None = None
    block: threading.Event | None = None
    after: int = 0
    match: dict[str, str] = field(default_factory=dict)


class FaultPlan:
    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, prefix: str, fault: Fault) -> None:
        with self._lock:
            self._queues.setdefault(prefix, deque()).append(fault)

    def take(self, path: str, query: dict[str, str] | None = None) -> Fault | None:
        with self._lock:
            for prefix, queue in self._queues.items():
                if path.startswith(prefix) and queue:
                    head = queue[0]
                    if any((query or {}).get(k) != v for k, v in head.match.items()):
                        return None
                    if head.after > 0:
                        head.after -= 1
                        return None
                    return queue.popleft()
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._queues.values())


class LocalServer:
    """Serve ``route`` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self) -> None:
        self.faults = FaultPlan()
        self.log: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                with server._lock:
                    server.log.append((parsed.path, query))
                fault = server.faults.take(parsed.path, query)
                if fault and fault.block is not None:
                    fault.block.wait(timeout=60)
                if fault and fault.delay_s:
                    time.sleep(fault.delay_s)
                resp = server.route(parsed.path, query, dict(self.headers))
                if fault and fault.truncate_rows is not None and resp.status == 200:
                    rows = json.loads(resp.body)
                    rows = server.truncate(rows, fault.truncate_rows)
                    resp = Response(200, json.dumps(rows).encode(), resp.headers, resp.content_type)
                if fault and fault.status is not None:
                    resp = Response(
                        fault.status,
                        fault.body or b'{"code":-1,"msg":"injected fault"}',
                        fault.headers,
                    )
                elif fault and fault.body is not None:
                    resp = Response(200, fault.body, fault.headers)
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(resp.body)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(resp.body)

            def log_message(self, *args) -> None:  # silence
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                if timestamp is None:
                    timestamp = server.server_time_ms() / 1000
                return super().date_time_string(timestamp)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # ------------------------------------------------------------------ to override
    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        return Response.json({"error": f"no route {path}"}, status=404)

    def server_time_ms(self) -> int:
        """The server's clock, sent in every answer's ``Date`` header."""
        return int(time.time() * 1000)

    def truncate(self, payload: object, rows: int) -> object:
        """Shorten a page; default: a JSON list cut to ``rows`` items."""
        return payload[:rows] if isinstance(payload, list) else payload

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for p, _ in self.log if p.startswith(path_prefix))
