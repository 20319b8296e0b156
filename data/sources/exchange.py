"""ccxt exchange objects for costbt, calling them with retries, and what their answers showed.

`make_exchange` builds the real ccxt client with its rate limiter on. ``api_url`` (flag
``--api-url`` or ``$COSTBT_EXCHANGE_URL``) replaces the scheme and host of every REST URL of the
exchange, which is how tests point the real client at a local server. The client is the ccxt class
with one hook filled in: ccxt's ``on_rest_response`` (called for every HTTP answer, errors
included) records each answer's status, body, ``Retry-After`` and ``Date``, so `call` can check
every response an operation made (ccxt itself keeps only the last) and `exchange_clock_ms` can read
the exchange's clock. No ccxt internals are patched.

`call` retries with exponential backoff and jitter on ccxt's `OperationFailed` family:
`ccxt.RateLimitExceeded` and `ccxt.DDoSProtection` (HTTP 429/418, honouring ``Retry-After``),
`ccxt.RequestTimeout` (also HTTP 504), `ccxt.ExchangeNotAvailable` (HTTP 500/502/503/52x) and the
error codes an exchange maps there (Binance -1001 "internal error"); and on any other error that
came with an HTTP 5xx. Binance documents a 5xx as an internal error whose outcome is unknown, not
a failure; a GET of market data or history changes nothing, so it is repeated. A ``Retry-After``
longer than the policy's limit (an IP ban lasts up to 3 days) stops at once with the wait's end in
UTC (`retry.long_wait`). An answer that is not the documented JSON, a list whose rows ccxt could
not read, or rows a caller's ``check`` refuses (`MalformedResponse`) is retried like a glitch,
then fails. It fails at once with a clear `FetchError` on `ccxt.AuthenticationError` and on
`ccxt.BadSymbol`/`ccxt.BadRequest` (exit status 2), and on any other exchange error (1).

`load_markets` loads the market list for real on every attempt (ccxt keeps a list once loaded,
half-loaded ones included) and checks every answer; `find_market` blames the user's symbol
(exit status 2) only when the list loaded whole and the symbol is not in it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import ccxt

from costbt.data.sources.retry import (
    FetchError,
    RetryPolicy,
    http_date_ms,
    long_wait,
    parse_retry_after,
)

ENV_EXCHANGE_URL = "COSTBT_EXCHANGE_URL"

#: Largest page each exchange's OHLCV / funding endpoint returns through ccxt.
PAGE_LIMIT = {"binance": 1000, "deribit": 5000, "okx": 100}
FUNDING_PAGE_LIMIT = {"binance": 1000, "okx": 100}
#: Answers kept per exchange object between two checks (one operation makes a few).
MAX_SEEN = 64


@dataclass(frozen=True)
class ExchangeConfig:
    """How to build a ccxt client.

    Attributes:
        exchange_id: ccxt id (``binance``, ``deribit``, ...).
        api_url: replaces ``https://<host>`` of every REST URL (None: the exchange's own).
        timeout_ms: per-request timeout.
        market_types: for binance, which market families to load (``spot``, ``linear``, ``inverse``).
    """

    exchange_id: str
    api_url: str | None = None
    timeout_ms: int = 15_000
    market_types: tuple[str, ...] = ("spot", "linear")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as the client received it.

    Attributes:
        status: HTTP status.
        url: the request's URL.
        body: the body as text (stripped).
        retry_after_s: the ``Retry-After`` header in seconds (None: absent).
        date_ms: the server's clock when it answered: the ``Date`` header (whole seconds) plus
            the ``Age`` a cache held the answer for; None when there is no ``Date``.
        received_ms: the local clock when the answer arrived.
        json: whether ccxt could read the body as JSON (None: not tried yet).
    """

    status: int
    url: str
    body: str
    retry_after_s: float | None
    date_ms: int | None
    received_ms: int
    json: bool | None = None


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for k, v in dict(headers or {}).items():
        if str(k).lower() == name:
            return v
    return None


def _observing(base: type) -> type:
    """``base`` (a ccxt exchange class) recording every HTTP answer in ``seen``."""

    class Observed(base):
        def __init__(self, config: dict | None = None) -> None:
            super().__init__(config or {})
            self.seen: list[Answer] = []
            self.last_date: Answer | None = None  # the newest answer with a Date header
            self.markets_checked = False

        def on_rest_response(
            self,
            code,
            reason,
            url,
            method,
            response_headers,
            response_body,
            request_headers,
            request_body,
        ):
            body = super().on_rest_response(
                code,
                reason,
                url,
                method,
                response_headers,
                response_body,
                request_headers,
                request_body,
            )
            date_ms = http_date_ms(_header(response_headers, "date"))
            age = parse_retry_after(_header(response_headers, "age"))  # seconds in a cache
            if date_ms is not None and age:
                date_ms += int(age * 1000)
            answer = Answer(
                status=int(code),
                url=str(url),
                body=str(body),
                retry_after_s=parse_retry_after(
                    _header(response_headers, "retry-after"),
                    None if date_ms is None else date_ms / 1000,
                ),
                date_ms=date_ms,
                received_ms=int(self.milliseconds()),
            )
            self.seen.append(answer)
            del self.seen[:-MAX_SEEN]
            if date_ms is not None:
                self.last_date = answer
            return body

        def parse_json(self, http_response):
            parsed = super().parse_json(http_response)
            last = self.seen[-1] if self.seen else None
            if last is not None and last.json is None and last.body == http_response:
                self.seen[-1] = replace(last, json=parsed is not None)
            return parsed

    Observed.__name__ = Observed.__qualname__ = base.__name__
    return Observed


_observed_class = functools.cache(_observing)


def _rewrite_urls(node: Any, base: str) -> Any:
    if isinstance(node, str):
        return re.sub(r"^https?://[^/]+", base.rstrip("/"), node)
    if isinstance(node, dict):
        return {k: _rewrite_urls(v, base) for k, v in node.items()}
    return node


def make_exchange(config: ExchangeConfig) -> ccxt.Exchange:
    """The real ccxt client for ``config`` (rate limiter on, public endpoints only)."""
    if config.exchange_id not in ccxt.exchanges:
        raise FetchError(f"--exchange: unknown exchange '{config.exchange_id}'", exit_code=2)
    options: dict[str, Any] = {}
    if config.exchange_id == "binance":
        options["fetchMarkets"] = {"types": list(config.market_types)}
    exchange = _observed_class(getattr(ccxt, config.exchange_id))(
        {
            "enableRateLimit": True,
            "timeout": config.timeout_ms,
            "options": options,
            "enableLastHttpResponse": True,
            "enableLastJsonResponse": True,
            "enableLastResponseHeaders": True,
        }
    )
    api_url = config.api_url or os.environ.get(ENV_EXCHANGE_URL)
    if api_url:
        exchange.urls["api"] = _rewrite_urls(exchange.urls["api"], api_url)
    return exchange


def exchange_clock_ms(exchange: ccxt.Exchange) -> int | None:
    """The exchange's clock now, from the newest answer's ``Date`` header; None if none had one.

    ``Date`` has whole seconds and is the server's time when it answered (so at most a second
    behind it): the answer's ``Date`` plus the local time elapsed since it arrived. That errs
    early, which is the safe side for deciding that a candle is finished.
    """
    answer = getattr(exchange, "last_date", None)
    if answer is None or answer.date_ms is None:
        return None
    elapsed = max(0, int(exchange.milliseconds()) - answer.received_ms)
    return answer.date_ms + elapsed


def exchange_now_ms(exchange: ccxt.Exchange) -> int:
    """`exchange_clock_ms` where an answer showed the exchange's clock, else the local clock."""
    clock = exchange_clock_ms(exchange)
    return clock if clock is not None else int(exchange.milliseconds())


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MalformedResponse):
        return text[:200]
    return f"{type(exc).__name__}: {text[:200]}"


class MalformedResponse(Exception):
    """The body was not the documented JSON (ccxt itself would return an empty result), or its
    rows were not what the endpoint documents."""


def _seen(exchange: ccxt.Exchange) -> list[Answer]:
    return list(getattr(exchange, "seen", None) or [])


def _check_answers(exchange: ccxt.Exchange, result: Any, expect_list: bool) -> None:
    """Every answer of the operation was JSON; with ``expect_list``, the last one a JSON list whose
    rows ccxt read in full."""
    for answer in _seen(exchange):
        if answer.status == 200 and not answer.body:
            raise MalformedResponse("the body is empty")
        if 200 <= answer.status < 300 and answer.body and answer.json is False:
            raise MalformedResponse(f"body is not JSON: {answer.body[:60]!r}")
    body = getattr(exchange, "last_http_response", None)
    parsed = getattr(exchange, "last_json_response", None)
    if body and parsed is None:
        raise MalformedResponse(f"body is not JSON: {str(body)[:60]!r}")
    if not expect_list or parsed is None:
        return
    if not isinstance(parsed, list):
        raise MalformedResponse(
            f"expected a JSON list, got {type(parsed).__name__}: {str(body)[:60]!r}"
        )
    if isinstance(result, list) and len(result) < len(parsed):
        bad = len(parsed) - len(result)
        raise MalformedResponse(f"{bad} of {len(parsed)} rows are not rows of the documented form")


def _reason(exchange: ccxt.Exchange, exc: Exception) -> str:
    """What went wrong, naming the HTTP status when an error answer caused it."""
    answers = _seen(exchange)
    last = answers[-1] if answers else None
    if last is not None and last.status >= 400 and not isinstance(exc, MalformedResponse):
        body = " ".join(last.body.split())[:80]
        return f"HTTP {last.status}" + (f" {body!r}" if body else "")
    return _short(exc)


def _transient(exc: Exception, last: Answer | None) -> bool:
    """Worth asking again: ccxt's `OperationFailed` family (`NetworkError`: 429/418, timeouts,
    `ExchangeNotAvailable`; and the codes an exchange maps to it, e.g. Binance -1001 "internal
    error"), `BadResponse` (an answer ccxt could not read), or any error answered with HTTP 5xx."""
    if isinstance(exc, ccxt.OperationFailed | ccxt.BadResponse):
        return True
    return last is not None and last.status >= 500


def call(
    exchange: ccxt.Exchange,
    fn: Callable[..., Any],
    *args: Any,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[str], None] | None = None,
    expect_list: bool = False,
    check: Callable[[Any], None] | None = None,
    what: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``fn(*args, **kwargs)`` (a method of ``exchange``) with retries; see module doc.

    ccxt answers a body that is not JSON with an empty result, which would silently truncate a
    download; `call` checks every answer ``fn`` received itself and treats such a body (or, with
    ``expect_list``, JSON that is not a list, or a list with rows ccxt dropped as unreadable) like
    a network glitch: retried, then a clear error. ``check(result)`` may refuse the parsed result
    by raising `MalformedResponse` (retried alike). A failure after the last attempt, or a
    ``Retry-After`` too long to wait for, raises `FetchError` (exit status 1) whose ``reason`` is
    the message without the leading "<exchange> <what>:".
    """
    policy = policy or RetryPolicy()
    what = what or getattr(fn, "__name__", "request")
    where = f"{exchange.id} {what}"
    for attempt in range(1, policy.max_attempts + 1):
        exchange.last_http_response = None
        exchange.last_json_response = None
        exchange.last_response_headers = None
        if isinstance(getattr(exchange, "seen", None), list):
            exchange.seen.clear()
        try:
            result = fn(*args, **kwargs)
            _check_answers(exchange, result, expect_list)
            if check is not None:
                check(result)
            return result
        except ccxt.AuthenticationError as exc:
            raise FetchError(
                f"{where}: authentication failed ({_short(exc)})", exit_code=2
            ) from None
        except ccxt.BadSymbol as exc:
            raise FetchError(
                f"--symbol: {exchange.id} has no such market ({_short(exc)})", exit_code=2
            ) from None
        except ccxt.BadRequest as exc:
            raise FetchError(
                f"{where}: the exchange rejected the request ({_short(exc)})", exit_code=2
            ) from None
        except (
            ccxt.BaseError,
            MalformedResponse,
            ValueError,
            TypeError,
            KeyError,
            IndexError,
        ) as exc:
            answers = _seen(exchange)
            last = answers[-1] if answers else None
            if isinstance(exc, ccxt.BaseError) and not _transient(exc, last):
                reason = _reason(exchange, exc)
                raise FetchError(f"{where}: {reason}", reason=reason) from None
            # The built-in errors are ccxt choking on an answer that is not the documented JSON;
            # a refused result may be explained by such an answer too: name it.
            if not isinstance(exc, ccxt.BaseError):
                try:
                    _check_answers(exchange, None, expect_list=False)
                except MalformedResponse as bad:
                    exc = bad
            reason = _reason(exchange, exc)
            if not isinstance(exc, ccxt.BaseError | MalformedResponse):
                reason = f"malformed response ({reason})"
            hinted = None if last is None else last.retry_after_s  # a 429/418/503 may say how long
            stop = long_wait(
                policy,
                hinted,
                status=None if last is None else last.status,
                now_ms=(
                    last.date_ms if last and last.date_ms is not None else exchange_now_ms(exchange)
                ),
                where=where,
            )
            if stop is not None:
                raise stop from None
            if attempt == policy.max_attempts:
                reason = f"gave up after {policy.max_attempts} attempts ({reason})"
                raise FetchError(
                    f"{where}: {reason}",
                    status=None if last is None else last.status,
                    reason=reason,
                ) from None
            wait = policy.delay(attempt, hinted)
            if on_retry:
                on_retry(
                    f"{where}: {reason}; retry {attempt}/{policy.max_attempts - 1} in {wait:.1f} s"
                )
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def _kind(symbol: str) -> str:
    return "contract" if ":" in symbol else "spot"


def _whole(markets: dict | None, symbol: str | None) -> bool:
    """The list is not empty and, when ``symbol`` is missing from it, still holds markets of the
    symbol's kind (a list without any spot market did not load whole)."""
    if not markets:
        return False
    if symbol is None or symbol in markets:
        return True
    kind = _kind(symbol)
    return any(isinstance(m, dict) and m.get(kind) for m in markets.values())


def load_markets(
    exchange: ccxt.Exchange,
    *,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[str], None] | None = None,
    symbol: str | None = None,
) -> dict:
    """The exchange's market list, loaded and checked whole once per exchange object.

    Each attempt reloads for real (ccxt's ``load_markets(reload=True)``: a list that came back
    half, one of its answers truncated or HTML, is never reused) and `call` checks every answer the
    load made. An empty list, or one without a single market of ``symbol``'s kind (spot, or
    contracts for ``BASE/QUOTE:SETTLE``) while ``symbol`` is missing, is a server fault, retried
    alike. Once a load passed, later calls return the list without a request.
    """
    if getattr(exchange, "markets_checked", False) and _whole(exchange.markets, symbol):
        return exchange.markets

    def load() -> dict:
        exchange.markets_checked = False
        markets = exchange.load_markets(True)
        if not markets:
            raise MalformedResponse("the market list is empty")
        if not _whole(markets, symbol):
            raise MalformedResponse(f"the market list has no {_kind(symbol)} market at all")
        return markets

    markets = call(exchange, load, policy=policy, on_retry=on_retry, what="market list")
    exchange.markets_checked = True
    return markets


def find_market(
    exchange: ccxt.Exchange,
    symbol: str,
    *,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> dict:
    """The market ``symbol`` (a ccxt unified symbol) names, from a whole market list.

    Exit status 2 (``--symbol``) only when the list loaded whole (`load_markets`) and the symbol
    is not in it; a list that never loads whole is the server's fault (exit status 1).
    """
    markets = load_markets(exchange, policy=policy, on_retry=on_retry, symbol=symbol)
    if symbol not in markets:
        raise FetchError(f"--symbol: {exchange.id} has no market '{symbol}'", exit_code=2)
    return exchange.market(symbol)
