"""Open a polistance report in headless Chromium, check that every figure loads, and save a screenshot.

    python bench/screenshot_report.py runs/NAME/report.html --out report.png [--width 1400 --height 2000 | --full-page]

The image check loads a copy of the page (in a temporary folder, with ``<base href>`` pointing at
the report's folder so relative figure paths resolve exactly as in the report) with one inline
script added that records, for every ``<img>``, whether it finished loading with a non-zero
natural size; Chromium's ``--dump-dom`` prints the result. The report itself has no scripts and
is not modified. Exit status 1 if an image is broken or Chromium is missing.

Chromium comes from Debian: ``apt-get update && apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
]
CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = imgs.map(function (im) {
    return {src: im.getAttribute("src"), ok: im.complete && im.naturalWidth > 0, w: im.naturalWidth, h: im.naturalHeight};
  });
  var pre = document.createElement("pre");
  pre.id = "polistance-image-check";
  pre.textContent = JSON.stringify({images: out, height: document.documentElement.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    """Path of the Chromium binary, or exit with how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: apt-get update && apt-get install -y chromium")


def run(binary: str, args: list[str], profile: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)


def check_images(binary: str, report: Path, profile: str, width: int, height: int) -> dict:
    """Load the report with the check script added (at the screenshot's window size, so the page
    height it reports is the one the screenshot will have); returns {images: [...], height: px}."""
    page = report.read_text(encoding="utf-8")
    base = f'<base href="{html.escape(report.parent.resolve().as_uri())}/">'
    page = page.replace("<head>", "<head>" + base, 1).replace("</body>", CHECK + "</body>", 1)
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "check.html"
        probe.write_text(page, encoding="utf-8")
        proc = run(binary, ["--virtual-time-budget=10000", "--allow-file-access-from-files", f"--window-size={width},{height}",
                            "--dump-dom", probe.as_uri()], profile)
    m = re.search(r'<pre id="polistance-image-check">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        sys.exit(f"chromium did not report the image check (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    return json.loads(html.unescape(m.group(1)))


def screenshot(binary: str, report: Path, out: Path, width: int, height: int, profile: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = run(binary, [f"--screenshot={out.resolve()}", f"--window-size={width},{height}", "--virtual-time-budget=10000",
                        report.resolve().as_uri()], profile)
    if not out.is_file():
        sys.exit(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="a report.html (or the run folder holding it)")
    ap.add_argument("--out", type=Path, default=None, help="PNG to write (default: <run>/report_screenshot.png)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2000)
    ap.add_argument("--full-page", action="store_true", help="make the window as tall as the page")
    args = ap.parse_args(argv)
    report = args.report / "report.html" if args.report.is_dir() else args.report
    if not report.is_file():
        sys.exit(f"{report}: no such report")
    out = args.out or report.parent / "report_screenshot.png"
    binary = chromium()
    with tempfile.TemporaryDirectory() as profile:
        result = check_images(binary, report, profile, args.width, args.height)
        broken = [i for i in result["images"] if not i["ok"]]
        for i in result["images"]:
            print(f"{'ok    ' if i['ok'] else 'BROKEN'} {i['src']} ({i['w']}x{i['h']})")
        height = max(args.height, int(result.get("height") or 0)) if args.full_page else args.height
        screenshot(binary, report, out, args.width, height, profile)
    print(f"{len(result['images'])} images, {len(broken)} broken; page height {result.get('height')} px; screenshot {out}")
    return 1 if broken or not result["images"] else 0


if __name__ == "__main__":
    sys.exit(main())
