"""Self-containment: the report's Content-Security-Policy and a scan for outside references.

A report opens offline and makes no network request. Two guards keep it so:

* `find_external_references` parses the markup and lists every attribute that could make a browser
  fetch or navigate anywhere but inside the file (``src``, ``href``, ``srcset``, ``poster``,
  ``data``, ``action`` ... that are not ``#fragment`` or ``data:`` URIs), every CSS ``url()`` that
  is not a ``data:`` URI, every ``@import``, ``<base>`` and ``<meta http-equiv="refresh">``.
  Script bodies are code, not markup: the inline plotly.js bundle mentions map-tile and plotly.com
  URLs that only map traces and the (disabled) logo link would use, so it is not scanned; a
  ``<script src=...>`` is still caught as an attribute.
* `CONTENT_SECURITY_POLICY`, set in the report's ``<meta http-equiv>``, makes the browser refuse
  any fetch at all (``default-src 'none'``): inline scripts, inline styles and ``data:``/``blob:``
  images only. A refused fetch is logged as a console error, which the browser test fails on.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
)

# Attributes whose value a browser may fetch or navigate to.
URL_ATTRIBUTES = frozenset(
    {
        "src",
        "href",
        "xlink:href",
        "srcset",
        "poster",
        "data",
        "action",
        "formaction",
        "background",
        "codebase",
        "manifest",
        "ping",
        "cite",
        "longdesc",
        "lowsrc",
        "dynsrc",
        "archive",
    }
)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)\s*([^'\")]*)", re.I)
_CSS_IMPORT = re.compile(r"@import\b", re.I)


def is_internal_url(value: str) -> bool:
    """True for a same-document fragment (``#id``), a ``data:`` URI, or nothing at all."""
    v = value.strip().lower()
    return v == "" or v.startswith("#") or v.startswith("data:")


def css_external_references(css: str) -> list[str]:
    """``@import`` rules and ``url(...)`` values that are not ``data:`` URIs or fragments."""
    found = [
        f"@import in CSS: {m.string[m.start() : m.start() + 80]!r}"
        for m in _CSS_IMPORT.finditer(css)
    ]
    found += [
        f"CSS url({m.group(2)[:80]})"
        for m in _CSS_URL.finditer(css)
        if not is_internal_url(m.group(2))
    ]
    return found


class _ReferenceScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name.lower(): value or "" for name, value in attrs}
        if tag == "base":
            self.found.append("<base> element")
        if tag == "meta" and attributes.get("http-equiv", "").lower() == "refresh":
            self.found.append('<meta http-equiv="refresh">')
        if tag == "link" and "href" in attributes and not is_internal_url(attributes["href"]):
            rel = attributes.get("rel", "")
            self.found.append(f'<link rel="{rel}" href="{attributes["href"][:80]}">')
        for name, value in attributes.items():
            if name in URL_ATTRIBUTES and not is_internal_url(value):
                if tag == "link" and name == "href":
                    continue  # reported above with its rel
                self.found.append(f'<{tag} {name}="{value[:80]}">')
            if name == "style":
                self.found += [f"<{tag} style>: {r}" for r in css_external_references(value)]
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"<style>: {r}" for r in css_external_references(data)]


def find_external_references(document: str) -> list[str]:
    """Every reference in ``document`` that would make a browser fetch or leave the file."""
    scanner = _ReferenceScanner()
    scanner.feed(document)
    scanner.close()
    return scanner.found
