"""Screenshot a costbt HTML report in headless Chromium (refreshes the README image).

Usage::

    .venv/bin/costbt backtest --strategy below_cost --report reports/out/below_cost.html
    .venv/bin/python scripts/screenshot_report.py [REPORT] [--out docs/images/report.png]
                                                  [--full-page] [--width 1280] [--height 900]

REPORT defaults to ``reports/out/below_cost.html``. The report is opened offline exactly as the
browser test opens it; if the page logs a console error or requests anything but itself, no
screenshot is written and the problems are printed (exit status 1). Exit status 2: the report
or Chromium is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REPORT = REPO / "reports" / "out" / "below_cost.html"
DEFAULT_OUT = REPO / "docs" / "images" / "report.png"
READY = """[...document.querySelectorAll('.plotly-graph-div')].every(
  d => d.classList.contains('js-plotly-plot') && d.querySelector('svg.main-svg'))"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not one screen")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)

    # The Chromium driver is a test tool (tests/browser.py), not part of the shipped package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser import BrowserError, chromium_binary, inspect_page

    if not args.report.is_file():
        print(
            f"error: no report at {args.report}; make one with\n"
            f"  .venv/bin/costbt backtest --strategy below_cost --report {args.report}",
            file=sys.stderr,
        )
        return 2
    if chromium_binary() is None:
        print("error: Chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    scratch = args.out.with_name(args.out.name + ".tmp.png")
    try:
        run = inspect_page(
            args.report,
            ready=READY,
            screenshot=scratch,
            full_page=args.full_page,
            width=args.width,
            height=args.height,
        )
    except BrowserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = run.console_errors + [f"request: {u}" for u in run.outside_requests()]
    if problems:
        scratch.unlink(missing_ok=True)
        print("error: the report did not render cleanly:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    scratch.replace(args.out)
    print(f"wrote {args.out} from {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
