"""A small HTTP GET client for the non-exchange providers, with retries and no secret leakage.

Retries (see `data.sources.retry`): connection errors, timeouts, HTTP 429 (honouring
``Retry-After``) and 5xx. A ``Retry-After`` longer than the policy's limit stops at once with the
wait's end in UTC (`retry.long_wait`), instead of sleeping for hours. Fails at once on other 4xx
(418 included: only exchanges use it, for a ban, and they go through `data.sources.exchange`):
401/403 (bad or missing API key) and 400/404 (bad parameters) raise `FetchError` with exit code
2. API keys travel in headers where the provider allows it (Coin Metrics only takes a query
parameter; its module masks the key in every message), and error messages never include header
values.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from costbt.data.sources.retry import (
    FetchError,
    RetryPolicy,
    http_date_ms,
    long_wait,
    parse_retry_after,
)

USER_AGENT = "costbt (+https://github.com/costbt)"


@dataclass
class HttpClient:
    """GET JSON or text from one base URL.

    Attributes:
        base_url: scheme and host (and optional path prefix), e.g. ``https://api.blockchain.info``.
        headers: sent with every request (API keys go here).
        timeout_s: per-request timeout.
        policy: retry policy.
        requests: number of HTTP requests made (attempts included), for tests and logs.
    """

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 20.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: Callable[[str], None] | None = None
    requests: int = 0

    def url(self, path: str, params: Mapping[str, object] | None = None) -> str:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        return self.base_url.rstrip("/") + "/" + path.lstrip("/") + (f"?{query}" if query else "")

    def get_bytes(self, path: str, params: Mapping[str, object] | None = None) -> bytes:
        url = self.url(path, params)
        last = ""
        for attempt in range(1, self.policy.max_attempts + 1):
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **self.headers})
            self.requests += 1
            retry_after = None
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return resp.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                if status in (401, 403):
                    hint = "missing or invalid API key" if self.headers else "access refused"
                    raise FetchError(
                        f"{url}: HTTP {status}: {hint}", exit_code=2, status=status
                    ) from None
                if status in (400, 404, 422):
                    raise FetchError(
                        f"{url}: HTTP {status}: the provider rejected the request",
                        exit_code=2,
                        status=status,
                    ) from None
                if status != 429 and status < 500:
                    raise FetchError(f"{url}: HTTP {status}", status=status) from None
                now_ms = http_date_ms(exc.headers.get("Date"))
                retry_after = parse_retry_after(
                    exc.headers.get("Retry-After"), None if now_ms is None else now_ms / 1000
                )
                stop = long_wait(
                    self.policy,
                    retry_after,
                    status=status,
                    now_ms=now_ms if now_ms is not None else time.time() * 1000,
                    where=url,
                )
                if stop is not None:
                    raise stop from None
                last = f"HTTP {status}"
            except (
                urllib.error.URLError,
                TimeoutError,
                ConnectionError,
                http.client.HTTPException,
            ) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"network error ({reason})"
            if attempt == self.policy.max_attempts:
                break
            wait = self.policy.delay(attempt, retry_after)
            if self.on_retry:
                self.on_retry(
                    f"{last}; retry {attempt}/{self.policy.max_attempts - 1} in {wait:.1f} s"
                )
            self.policy.sleep(wait)
        raise FetchError(f"{url}: gave up after {self.policy.max_attempts} attempts: {last}")

    def get_json(self, path: str, params: Mapping[str, object] | None = None) -> object:
        body = self.get_bytes(path, params)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FetchError(
                f"{self.url(path, params)}: malformed JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
            ) from None

    def get_text(self, path: str, params: Mapping[str, object] | None = None) -> str:
        body = self.get_bytes(path, params)
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise FetchError(f"{self.url(path, params)}: response is not UTF-8 text") from None
