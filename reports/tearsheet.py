"""The quantstats tear sheet as an HTML fragment that fits inside a costbt report.

quantstats writes a whole page (``quantstats.reports.html``). This module runs it on a temporary
file with ``periods_per_year=365`` and no date matching, then keeps the page's body and makes it
safe to embed:

* removed: the favicon ``<link>`` to qtpylib.io (the ``<head>`` is dropped), the
  ``onload="save()"`` handler (``save`` is undefined: a console error), the link to quantstats.io
  (its text stays), and from each inline matplotlib SVG the XML declaration, the DOCTYPE pointing
  at w3.org and the RDF ``<metadata>``;
* scoped: every CSS rule (quantstats' page style and the ``*{...}`` rule inside each SVG) is
  prefixed with ``.qs-tearsheet``, so quantstats' ``svg{width:100%}``, ``body`` and ``table``
  rules cannot restyle the plotly charts or costbt's own tables;
* labels passed to quantstats are reduced to letters, digits, ``_ . -`` and spaces: quantstats
  writes some of them into the page unescaped;
* the row name "CAGR" + U+FE6A (a small percent sign most fonts lack) is written ``CAGR%``.

The figures stay inline SVG (quantstats' default ``figfmt``). Nothing is fetched: the benchmark is
passed as a Series, never as a ticker (a ticker would make quantstats download it).
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from costbt.backtest.result import PERIODS_PER_YEAR
from costbt.reports.offline import find_external_references

SCOPE_CLASS = "qs-tearsheet"
_STYLE = re.compile(r"<style\b([^>]*)>(.*?)</style\s*>", re.I | re.S)
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.I | re.S)
_XML_DECL = re.compile(r"<\?xml\b.*?\?>", re.S)
_DOCTYPE = re.compile(r"<!DOCTYPE\b[^>]*>", re.I)
_METADATA = re.compile(r"<metadata\b.*?</metadata\s*>", re.I | re.S)
_EXTERNAL_LINK = re.compile(
    r"<a\b[^>]*\bhref\s*=\s*[\"']?\s*(?:[a-z][a-z0-9+.-]*:)?//[^>]*>(.*?)</a\s*>", re.I | re.S
)
_UNSAFE_TAGS = re.compile(
    r"<(script|iframe|object|embed)\b.*?</\1\s*>|<(?:link|base|meta)\b[^>]*>", re.I | re.S
)
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.\- ]+")


class TearsheetError(RuntimeError):
    """quantstats failed, or produced something that cannot be embedded safely."""


def safe_label(name: str, default: str) -> str:
    """``name`` reduced to letters, digits, ``_ . -`` and spaces (``default`` if nothing is left)."""
    cleaned = _LABEL_CHARS.sub("", str(name)).strip()
    return cleaned or default


def _scope_selector(selector: str, scope: str) -> str:
    selector = selector.strip()
    for root in ("html", "body", ":root"):
        if selector == root:
            return scope
        if selector.startswith(root + " "):
            return scope + selector[len(root) :]
    return f"{scope} {selector}"


def scope_css(css: str, scope: str) -> str:
    """Prefix every selector in ``css`` with ``scope`` (``body``/``html`` become ``scope``).

    Handles plain rules and rules nested in ``@media``/``@supports``; drops ``@import``,
    ``@font-face`` and other at-rules. Selectors are split on commas, which is enough for the
    stylesheets quantstats and matplotlib write (no ``:is(a, b)``).
    """
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out: list[str] = []
    i = 0
    while True:
        brace = css.find("{", i)
        if brace < 0:
            break
        prelude = css[i:brace]
        if ";" in prelude:  # statement at-rules such as @import ...; are dropped
            prelude = prelude.rsplit(";", 1)[1]
        prelude = prelude.strip()
        depth, j = 1, brace + 1
        while j < len(css) and depth:
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        body = css[brace + 1 : j - 1]
        if prelude.lower().startswith(("@media", "@supports")):
            out.append(f"{prelude}{{{scope_css(body, scope)}}}")
        elif prelude and not prelude.startswith("@"):
            selectors = ",".join(_scope_selector(s, scope) for s in prelude.split(",") if s.strip())
            out.append(f"{selectors}{{{body.strip()}}}")
        i = j
    return "\n".join(out)


def embeddable_fragment(page: str, scope_class: str = SCOPE_CLASS) -> str:
    """A quantstats page turned into one ``<div class=scope_class>`` safe to embed (see module)."""
    scope = f".{scope_class}"
    body_match = _BODY.search(page)
    if body_match is None:
        raise TearsheetError("quantstats output has no <body>")
    styles = [m.group(2) for m in _STYLE.finditer(page[: body_match.start()])]
    body = body_match.group(1)
    styles += [m.group(2) for m in _STYLE.finditer(body)]
    body = _STYLE.sub("", body)
    styles = list(dict.fromkeys(s.strip() for s in styles))  # one copy of each SVG's style
    body = _XML_DECL.sub("", body)
    body = _DOCTYPE.sub("", body)
    body = _METADATA.sub("", body)
    body = _EXTERNAL_LINK.sub(r"\1", body)
    body = _UNSAFE_TAGS.sub("", body)
    # quantstats names a row "CAGR\ufe6a" (small percent sign): missing from common fonts.
    body = body.replace("\ufe6a", "%")
    css = "\n".join(scope_css(s, scope) for s in styles)
    fragment = f'<div class="{scope_class}">\n<style>\n{css}\n</style>\n{body.strip()}\n</div>'
    leftovers = find_external_references(fragment)
    if leftovers:
        raise TearsheetError(
            f"quantstats output still references outside the file: {leftovers[:3]}"
        )
    return fragment


def _aligned(returns: pd.Series, benchmark: pd.Series | None) -> tuple[pd.Series, pd.Series | None]:
    """Returns (and benchmark) on their common days, NaN rows dropped, as float."""
    returns = returns.astype(float)
    if benchmark is None:
        return returns.dropna(), None
    both = pd.concat([returns, benchmark.astype(float)], axis=1, join="inner").dropna()
    return both.iloc[:, 0], both.iloc[:, 1]


def _quantstats():
    """Import quantstats with matplotlib on Agg (unless pyplot is already set up) and quiet fonts."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    # "findfont: Font family 'Arial' not found" is logged for every chart quantstats draws.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import quantstats

    return quantstats


def tearsheet_html(
    returns: pd.Series,
    benchmark: pd.Series | None,
    *,
    strategy_label: str,
    benchmark_label: str,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> str:
    """The quantstats tear sheet of ``returns`` against ``benchmark`` as an embeddable fragment.

    Both series must be daily simple returns on tz-naive UTC dates (see `reports.normalise`).
    They are aligned on common days; quantstats' ``match_dates`` is off so the tear sheet covers
    the whole run, flat days before the first trade included, like costbt's own metrics.

    Raises:
        TearsheetError: quantstats raised, or its output could not be made self-contained.
    """
    returns, benchmark = _aligned(returns, benchmark)
    if len(returns) < 2:
        raise TearsheetError(f"needs at least 2 days of returns, got {len(returns)}")
    returns = returns.rename(safe_label(strategy_label, "Strategy"))
    kwargs: dict = {}
    if benchmark is not None:
        label = safe_label(benchmark_label, "Benchmark")
        if label == returns.name:  # e.g. buy-and-hold run as the strategy: keep columns apart
            label = f"{label} (benchmark)"
        benchmark = benchmark.rename(label)
        kwargs["benchmark_title"] = label
    with tempfile.TemporaryDirectory(prefix="costbt-qs-") as tmp:
        out = Path(tmp) / "tearsheet.html"
        try:
            qs = _quantstats()
            with warnings.catch_warnings():
                # pandas/matplotlib deprecations raised inside quantstats and seaborn.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                warnings.filterwarnings("ignore", message="set_ticklabels", category=UserWarning)
                qs.reports.html(
                    returns,
                    benchmark=benchmark,
                    rf=0.0,
                    output=str(out),
                    title="quantstats tear sheet",
                    periods_per_year=periods_per_year,
                    compounded=True,
                    match_dates=False,
                    figfmt="svg",
                    strategy_title=returns.name,
                    **kwargs,
                )
        except Exception as exc:
            raise TearsheetError(f"quantstats failed: {type(exc).__name__}: {exc}") from exc
        page = out.read_text(encoding="utf-8")
    return embeddable_fragment(page)
