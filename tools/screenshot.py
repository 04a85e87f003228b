"""``python -m tools.screenshot``: render ``reports/index.html`` in headless Chromium.

A person checks the report by looking at it; this takes the picture.  It uses Debian's
``chromium`` package, offline (no network, no sync, no component updates) and with a fresh
profile, and writes ``reports/screenshot.png`` (kept out of git).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "install it with `apt-get install chromium` (Debian/Ubuntu; `apt-get update` first on a fresh machine)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium binary: ``explicit`` if given (and nothing else), else ``chromium`` on PATH,
    else /usr/bin/chromium; None when there is none."""
    candidates = (explicit,) if explicit else (shutil.which("chromium"), DEFAULT_CHROMIUM)
    return next((c for c in candidates if c and Path(c).is_file()), None)


def screenshot(page: Path, out: Path, chromium: str, width: int, height: int, timeout: float = 120) -> Path:
    """Render ``page`` at ``width`` x ``height`` CSS pixels into ``out`` (PNG)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crosscheck-chromium-") as profile:
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out.resolve()}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(
            f"chromium exited with status {done.returncode} and wrote no screenshot:\n{done.stderr[-2000:]}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", type=Path, default=Path("reports/index.html"))
    parser.add_argument("--out", type=Path, default=Path("reports/screenshot.png"))
    parser.add_argument("--chromium", help=f"the browser binary (default: chromium on PATH, else {DEFAULT_CHROMIUM})")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument(
        "--height", type=int, default=2400, help="viewport height: the picture shows the page's top this tall"
    )
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        where = args.chromium or f"`chromium` on PATH or {DEFAULT_CHROMIUM}"
        print(f"Chromium is absent: no {where}. To take the screenshot, {INSTALL_HINT}.", file=sys.stderr)
        return 1
    if not args.page.is_file():
        print(f"{args.page} does not exist: write it first with `nox -s report`.", file=sys.stderr)
        return 1
    path = screenshot(args.page, args.out, chromium, args.width, args.height)
    print(f"wrote {path} ({args.width}x{args.height} of {args.page}, rendered by {chromium})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
