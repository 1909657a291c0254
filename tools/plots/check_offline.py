#!/usr/bin/env python3
"""Render this repo's DVC plots and check, in headless chromium with no
network, that the charts really drew.

    python tools/plots/check_offline.py                  # dvc plots show into a temp dir
    python tools/plots/check_offline.py --min-charts 4
    python tools/plots/check_offline.py --html dvc_plots/index.html
    python tools/plots/check_offline.py --out dvc_plots --screenshot /tmp/plots.png

Needs /usr/bin/chromium (tools/plots/install_chromium.sh).  Exit status: 0 ok,
1 charts missing / check failed, 2 setup problem (no chromium, dvc failed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from browser_check import (
    ChromiumNotFoundError,
    PlotsCheckError,
    check_rendered,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]


def _dvc() -> list[str]:
    venv_dvc = Path(sys.executable).parent / "dvc"
    if venv_dvc.is_file():
        return [str(venv_dvc)]
    found = shutil.which("dvc")
    return [found] if found else [sys.executable, "-m", "dvc"]


def _strip_scripts(text: str) -> str:
    # the inlined vega libraries contain strings like "<img " themselves
    return re.sub(r"<script>/\*! vega.*?</script>", "", text, flags=re.S)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", type=Path, help="check this HTML instead of running dvc")
    ap.add_argument("--out", type=Path,
                    help="directory for `dvc plots show --out` (default: a temp dir)")
    ap.add_argument("--min-charts", type=int, default=None,
                    help="charts that must render (default: every vegaEmbed plot in the page, >= 1)")
    ap.add_argument("--min-images", type=int, default=None,
                    help="images that must load (default: every <img> in the page)")
    ap.add_argument("--screenshot", type=Path, help="also save a PNG screenshot here")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    ap.add_argument("dvc_args", nargs="*",
                    help="extra args for `dvc plots show` (targets, ...); put after --")
    args = ap.parse_args(argv)

    tmp = None
    try:
        if args.html:
            html = args.html
        else:
            out = args.out
            if out is None:
                tmp = tempfile.mkdtemp(prefix="dvc-plots-")
                out = Path(tmp)
            env = dict(os.environ, DVC_NO_ANALYTICS="1")
            cmd = [*_dvc(), "plots", "show", "--out", str(out), *args.dvc_args]
            cp = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if cp.returncode != 0:
                print(f"`{' '.join(cmd)}` failed (rc={cp.returncode}):\n{cp.stdout}{cp.stderr}",
                      file=sys.stderr)
                return 2
            if cp.stderr.strip():
                print(cp.stderr.strip(), file=sys.stderr)  # e.g. plots DVC failed to load
            html = out / "index.html"
            if not html.is_file():
                print(f"dvc wrote no {html} (no plots defined?):\n{cp.stdout}{cp.stderr}",
                      file=sys.stderr)
                return 2

        text = _strip_scripts(html.read_text(encoding="utf8"))
        min_charts = args.min_charts
        if min_charts is None:
            min_charts = max(1, text.count("vegaEmbed('#"))
        min_images = args.min_images
        if min_images is None:
            min_images = len(re.findall(r"<img\s", text))

        try:
            result = check_rendered(html, min_charts, min_images=min_images,
                                    screenshot=args.screenshot)
        except ChromiumNotFoundError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return 2
        except PlotsCheckError as e:
            print(f"FAIL: {e}", file=sys.stderr)
            res = getattr(e, "result", None)
            if res is not None:
                print(summarize(res), file=sys.stderr)
            return 1

        print(json.dumps(result, indent=2) if args.json else summarize(result))
        print(f"OK: {result['charts_rendered']} chart(s) rendered offline "
              f"(required {min_charts}), {result['images_loaded']} image(s) loaded")
        return 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
