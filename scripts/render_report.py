"""Open a report in a real headless browser (Chromium) and save a screenshot of it.

    python scripts/render_report.py REPORT.html --png out.png [--width 1200] [--height 3000]

Checks what a reader would see: that the report opens with no network (Chromium's background
networking is off, and the report refers to nothing outside itself) and that its figures show.
Needs Debian's chromium (``apt-get install chromium``); prints one JSON line with the PNG's path,
its size and the share of the page that is not blank.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def render(report: Path, png: Path, width: int = 1200, height: int = 3000, timeout: float = 120.0) -> Path:
    """Screenshot ``report`` into ``png`` with headless Chromium; raises RuntimeError if it cannot."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError("No Chromium found: install it (Debian: apt-get install chromium).")
    png = png.resolve()
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="catdog-report-browser-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars",
                   f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={width},{height}",
                   report.resolve().as_uri()]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not png.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return png


def ink_share(png: Path) -> float:
    """The share of the screenshot's pixels that are not (near) white: 0 for a blank page."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("L"))
    return float((pixels < 240).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--png", type=Path, required=True)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"error: {args.report} does not exist", file=sys.stderr)
        return 2
    try:
        png = render(args.report, args.png, args.width, args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"png": str(png), "bytes": png.stat().st_size, "ink_share": round(ink_share(png), 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
