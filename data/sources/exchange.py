"""ccxt exchange objects for costbt, and calling them with retries.

`make_exchange` builds the real ccxt client with its rate limiter on. ``api_url`` (flag
``--api-url`` or ``$COSTBT_EXCHANGE_URL``) replaces the scheme and host of every REST URL of the
exchange, which is how tests point the real client at a local server: no ccxt internals are
patched.

`call` retries with exponential backoff and jitter on `ccxt.NetworkError`,
`ccxt.RateLimitExceeded` (honouring the response's ``Retry-After``), `ccxt.DDoSProtection` and
`ccxt.RequestTimeout`; it fails at once with a clear `FetchError` on `ccxt.AuthenticationError`,
`ccxt.BadSymbol` and `ccxt.ExchangeNotAvailable` (which ccxt also raises for HTTP 5xx), and on any
other exchange error. A malformed body (not JSON) is retried like a network glitch, then fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ccxt

from costbt.data.sources.retry import FetchError, RetryPolicy, parse_retry_after

ENV_EXCHANGE_URL = "COSTBT_EXCHANGE_URL"

#: Largest page each exchange's OHLCV / funding endpoint returns through ccxt.
PAGE_LIMIT = {"binance": 1000, "deribit": 5000, "okx": 100}
FUNDING_PAGE_LIMIT = {"binance": 1000, "okx": 100}


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
    exchange = getattr(ccxt, config.exchange_id)(
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


def _retry_after(exchange: ccxt.Exchange) -> float | None:
    headers = getattr(exchange, "last_response_headers", None) or {}
    for k, v in dict(headers).items():
        if str(k).lower() == "retry-after":
            return parse_retry_after(v)
    return None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}"


class MalformedResponse(Exception):
    """The body was not the documented JSON (ccxt itself would return an empty result)."""


def _check_body(exchange: ccxt.Exchange, expect_list: bool) -> None:
    body = getattr(exchange, "last_http_response", None)
    parsed = getattr(exchange, "last_json_response", None)
    if body and parsed is None:
        raise MalformedResponse(f"body is not JSON: {str(body)[:60]!r}")
    if expect_list and parsed is not None and not isinstance(parsed, list):
        raise MalformedResponse(
            f"expected a JSON list, got {type(parsed).__name__}: {str(body)[:60]!r}"
        )


def call(
    exchange: ccxt.Exchange,
    fn: Callable[..., Any],
    *args: Any,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[str], None] | None = None,
    expect_list: bool = False,
    what: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``fn(*args, **kwargs)`` (a method of ``exchange``) with retries; see module doc.

    ccxt answers a body that is not JSON with an empty result, which would silently truncate a
    download; `call` checks the last response itself and treats such a body (or, with
    ``expect_list``, JSON that is not a list) like a network glitch: retried, then a clear error.
    """
    policy = policy or RetryPolicy()
    what = what or getattr(fn, "__name__", "request")
    for attempt in range(1, policy.max_attempts + 1):
        exchange.last_http_response = None
        exchange.last_json_response = None
        exchange.last_response_headers = None
        try:
            result = fn(*args, **kwargs)
            _check_body(exchange, expect_list)
            return result
        except ccxt.AuthenticationError as exc:
            raise FetchError(
                f"{exchange.id} {what}: authentication failed ({_short(exc)})", exit_code=2
            ) from None
        except ccxt.BadSymbol as exc:
            raise FetchError(
                f"--symbol: {exchange.id} has no such market ({_short(exc)})", exit_code=2
            ) from None
        except ccxt.BadRequest as exc:
            raise FetchError(
                f"{exchange.id} {what}: the exchange rejected the request ({_short(exc)})",
                exit_code=2,
            ) from None
        except ccxt.ExchangeNotAvailable as exc:
            raise FetchError(
                f"{exchange.id} {what}: exchange not available ({_short(exc)})"
            ) from None
        except (
            ccxt.RateLimitExceeded,
            ccxt.DDoSProtection,
            ccxt.RequestTimeout,
            ccxt.NetworkError,
            MalformedResponse,
        ) as exc:
            if attempt == policy.max_attempts:
                raise FetchError(
                    f"{exchange.id} {what}: gave up after {policy.max_attempts} attempts ({_short(exc)})"
                ) from None
            hinted = _retry_after(exchange)  # a 429/503 may say how long to wait
            wait = policy.delay(attempt, hinted)
            if on_retry:
                on_retry(
                    f"{_short(exc)}; retry {attempt}/{policy.max_attempts - 1} in {wait:.1f} s"
                )
            policy.sleep(wait)
        except ccxt.BaseError as exc:
            raise FetchError(f"{exchange.id} {what}: {_short(exc)}") from None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            # ccxt parsing a malformed response (e.g. a body that is not the documented JSON).
            raise FetchError(f"{exchange.id} {what}: malformed response ({_short(exc)})") from None
    raise AssertionError("unreachable")  # pragma: no cover
