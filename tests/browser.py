"""Headless Chromium over the DevTools protocol pipe: open a local page and report what it did.

Used by ``tests/reports/test_browser.py`` and ``scripts/screenshot_report.py``; the report
renderer never imports it. No WebDriver, no extra Python package and no socket: Chromium runs with
``--remote-debugging-pipe`` and speaks the Chrome DevTools Protocol (CDP) as NUL-terminated JSON,
reading commands on its file descriptor 3 and writing replies and events on 4. The pipe is set up
with ``os.posix_spawn`` file actions (no ``preexec_fn``, safe next to threads).

What the page did comes from CDP events on its session:

* console errors: ``Runtime.consoleAPICalled`` of type error or assert, ``Runtime.exceptionThrown``
  (uncaught exceptions) and ``Log.entryAdded`` at level error (failed loads, refusals by the
  Content-Security-Policy, ...);
* requests: the URL of every ``Network.requestWillBeSent``. The event fires before a request goes
  out, so an attempt is recorded whether or not the network is reachable, and even when the
  page's Content-Security-Policy then blocks it (``Network.loadingFailed`` with
  ``blockedReason: "csp"``, kept in ``PageRun.failed``).

Chromium's own background traffic (updates, sync, field trials) is switched off by the launch
flags; it would not be attributed to the page anyway.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
# Schemes that never leave the machine's memory or the opened file itself.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


class BrowserError(RuntimeError):
    """Chromium could not be started, died, timed out or rejected a command."""


@dataclass
class PageRun:
    """What happened while a page was open."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    # URL -> why it failed: the blocked reason ("csp", ...) or the network error text.
    failed: dict[str, str] = field(default_factory=dict)
    result: Any = None

    def outside_requests(self) -> list[str]:
        """Requested URLs other than ``file:``, ``data:``, ``blob:`` and ``about:`` ones."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


def chromium_binary() -> Path | None:
    """``/usr/bin/chromium`` if it exists, else ``chromium`` on PATH, else None."""
    if CHROMIUM.exists():
        return CHROMIUM
    found = shutil.which("chromium")
    return Path(found) if found else None


class Chromium:
    """One headless Chromium process with a fresh profile; use as a context manager."""

    def __init__(self, binary: str | Path | None = None, *, timeout: float = 30.0) -> None:
        found = Path(binary) if binary else chromium_binary()
        if found is None or not found.exists():
            raise BrowserError(f"Chromium not found ({binary or CHROMIUM})")
        self.binary = found
        self.timeout = timeout
        self.events: list[dict] = []
        self.pid: int | None = None
        self._profile: str | None = None
        self._to_browser: int | None = None
        self._from_browser: int | None = None
        self._buffer = bytearray()
        self._last_id = 0

    # ------------------------------------------------------------------ process

    def __enter__(self) -> Chromium:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Launch Chromium with the DevTools pipe on its fds 3 (commands) and 4 (replies)."""
        self._profile = tempfile.mkdtemp(prefix="costbt-chromium-")
        cmd_read, cmd_write = os.pipe()
        reply_read, reply_write = os.pipe()
        # The child's ends moved to fds >= 10, so the dup2 onto 3 and 4 cannot clobber them.
        child_in = fcntl.fcntl(cmd_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(reply_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_read)
        os.close(reply_write)
        log = os.path.join(self._profile, "chromium.log")
        argv = [str(self.binary), *LAUNCH_FLAGS, f"--user-data-dir={self._profile}"]
        try:
            self.pid = os.posix_spawn(
                argv[0],
                argv,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                    (os.POSIX_SPAWN_DUP2, 1, 2),
                    (os.POSIX_SPAWN_DUP2, child_in, 3),
                    (os.POSIX_SPAWN_DUP2, child_out, 4),
                ],
                setsid=True,  # its own process group, so close() can end all its children
            )
        except OSError as exc:
            os.close(cmd_write)
            os.close(reply_read)
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
            raise BrowserError(f"could not start {self.binary}: {exc}") from exc
        finally:
            os.close(child_in)
            os.close(child_out)
        self._to_browser, self._from_browser = cmd_write, reply_read

    def log_tail(self, lines: int = 20) -> str:
        """The last lines Chromium wrote to stdout/stderr."""
        if not self._profile:
            return ""
        path = Path(self._profile) / "chromium.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Ask Chromium to quit, end its process group if it lingers, remove the profile."""
        if self.pid is not None:
            with contextlib.suppress(BrowserError, OSError):
                self.call("Browser.close", timeout=5)
            deadline = time.monotonic() + 5
            exited = False
            while time.monotonic() < deadline:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    exited = True
                    break
                time.sleep(0.05)
            # The group id is the pid (setsid): helpers left behind are ours to end.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if not exited:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
            self.pid = None
        for fd in (self._to_browser, self._from_browser):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # ------------------------------------------------------------------ protocol

    def _read_message(self, deadline: float) -> dict:
        while (end := self._buffer.find(b"\0")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("timed out waiting for Chromium")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited; its log ends:\n{self.log_tail()}")
            self._buffer += chunk
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return json.loads(raw)

    def call(
        self,
        method: str,
        params: dict | None = None,
        *,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict:
        """Send one CDP command and return its result; events read meanwhile are kept."""
        if self._to_browser is None:
            raise BrowserError("Chromium is not running")
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_browser, data) :]
        except BrokenPipeError as exc:
            raise BrowserError(f"Chromium exited; its log ends:\n{self.log_tail()}") from exc
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for_event(self, method: str, session: str, *, since: int = 0) -> dict:
        """The first event ``method`` on ``session`` at or after position ``since``."""
        deadline = time.monotonic() + self.timeout
        position = since
        while True:
            for event in self.events[position:]:
                if event["method"] == method and event.get("sessionId") == session:
                    return event
            position = len(self.events)
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)

    # ------------------------------------------------------------------ pages

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> str:
        """Open ``url`` in a new tab with console, log and network recording; return the session.

        Returns once the page's load event has fired.
        """
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        mark = len(self.events)
        navigation = self.call("Page.navigate", {"url": url}, session=session)
        if navigation.get("errorText"):
            raise BrowserError(f"could not open {url}: {navigation['errorText']}")
        self.wait_for_event("Page.loadEventFired", session, since=mark)
        return session

    def evaluate(self, expression: str, session: str) -> Any:
        """The JSON value of a JavaScript expression (promises are awaited)."""
        reply = self.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=session,
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script failed: {text}")
        return reply["result"].get("value")

    def wait_until(self, expression: str, session: str, *, timeout: float | None = None) -> None:
        """Poll a JavaScript condition every 100 ms until it is true."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.evaluate(expression, session):
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for: {expression}")
            time.sleep(0.1)

    def screenshot(self, path: str | Path, session: str, *, full_page: bool = False) -> Path:
        """A PNG of the viewport, or of the whole page with ``full_page``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            }
        data = self.call("Page.captureScreenshot", params, session=session)["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def page_run(self, url: str, session: str, result: Any = None) -> PageRun:
        """Console errors and requests recorded so far on ``session``."""
        run = PageRun(url=url, result=result)
        urls: dict[str, str] = {}
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                run.console_errors.append(
                    "console."
                    + params["type"]
                    + ": "
                    + " ".join(str(a.get("value", a.get("description", ""))) for a in args)
                )
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text", "")
                run.console_errors.append(f"uncaught: {text}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                where = f" ({entry['url']})" if entry.get("url") else ""
                run.console_errors.append(f"{entry.get('source', 'log')}: {entry['text']}{where}")
            elif method == "Network.requestWillBeSent":
                run.requests.append(params["request"]["url"])
                urls[params.get("requestId", "")] = params["request"]["url"]
            elif method == "Network.loadingFailed":
                failed_url = urls.get(params.get("requestId", ""), "?")
                run.failed[failed_url] = params.get("blockedReason") or params.get("errorText", "")
        return run


def inspect_page(
    page: str | Path,
    *,
    ready: str = "document.readyState === 'complete'",
    probe: str = "null",
    screenshot: str | Path | None = None,
    full_page: bool = False,
    width: int = 1280,
    height: int = 900,
    timeout: float = 30.0,
) -> PageRun:
    """Open a local HTML file headless, wait for ``ready``, evaluate ``probe``, maybe screenshot.

    ``ready`` and ``probe`` are JavaScript expressions; the probe's JSON value is
    ``PageRun.result``.
    """
    url = Path(page).resolve().as_uri()
    with Chromium(timeout=timeout) as browser:
        session = browser.open(url, width=width, height=height)
        browser.wait_until(ready, session)
        result = browser.evaluate(probe, session)
        if screenshot is not None:
            browser.screenshot(screenshot, session, full_page=full_page)
        return browser.page_run(url, session, result)
