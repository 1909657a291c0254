"""`dvc plots show` must produce a page that renders with no network.

Builds a throwaway git+dvc repo that uses this project's offline HTML template
(.dvc/offline/plots_template.html) and class-coloured scatter template
(.dvc/plots/scatter_class.json), renders it, and checks the charts in headless
chromium (tools/plots/browser_check.py).  The browser part is skipped only when
/usr/bin/chromium is absent; `make test` installs it with tools/plots/install_chromium.sh where it can, and CI
(.ci/run, REQUIRE_CHROMIUM=1) fails without it.

The project's own page is checked too: tools/plots/check_offline.py on a copy of
the repository's committed dvc.yaml, params and plots (DVC writes its .dvc/tmp
state there, not in the checkout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser_check import (
    PlotsCheckError,
    check_rendered,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / ".dvc" / "offline" / "plots_template.html"
SCATTER_CLASS = ROOT / ".dvc" / "plots" / "scatter_class.json"
DVC = Path(sys.executable).parent / "dvc"


def browser_test(func):
    """Marked `browser`: left out of `make test-fast`, and skipped without chromium (tests/conftest.py)."""
    return pytest.mark.browser(func)

DVC_YAML = """\
plots:
  - loss:
      template: linear
      x: epoch
      y:
        train.csv: loss
        val.csv: loss
  - latent:
      template: scatter
      x: x
      y:
        points.csv: y
  - points by class:
      template: scatter_class
      x: x
      y:
        points.csv: y
  - sample.png
"""


def _env() -> dict:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("DVC_ROOT", None)
    return env


def _run(cmd, cwd):
    cp = subprocess.run([str(c) for c in cmd], cwd=cwd, env=_env(),
                        capture_output=True, text=True)
    assert cp.returncode == 0, f"{cmd} failed:\n{cp.stdout}\n{cp.stderr}"
    return cp


def _write_png(path: Path) -> None:
    import numpy as np
    from PIL import Image

    a = np.zeros((24, 48, 3), np.uint8)
    a[:, :24] = (200, 40, 40)
    a[:, 24:] = (40, 40, 200)
    Image.fromarray(a).save(path)


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("plots_repo")
    _run(["git", "init", "-q"], repo)
    _run([DVC, "init", "-q"], repo)
    # Same html_template setting style as the project (relative to .dvc/),
    # pointing at a copy of the project's template.
    (repo / ".dvc" / "offline").mkdir()
    shutil.copy(TEMPLATE, repo / ".dvc" / "offline" / TEMPLATE.name)
    (repo / ".dvc" / "plots").mkdir(exist_ok=True)
    shutil.copy(SCATTER_CLASS, repo / ".dvc" / "plots" / SCATTER_CLASS.name)
    _run([DVC, "config", "plots.html_template", f"offline/{TEMPLATE.name}"], repo)

    (repo / "train.csv").write_text(
        "epoch,loss\n" + "".join(f"{e},{1.0 / (e + 1):.4f}\n" for e in range(10)))
    (repo / "val.csv").write_text(
        "epoch,loss\n" + "".join(f"{e},{1.2 / (e + 1) + 0.05:.4f}\n" for e in range(10)))
    rows = []
    for i in range(30):
        c = i % 3
        rows.append(f"{c + 0.1 * (i % 7):.2f},{-c + 0.13 * (i % 5):.2f},"
                    f"{['speech', 'noise', 'music'][c]}\n")
    (repo / "points.csv").write_text("x,y,class\n" + "".join(rows))
    _write_png(repo / "sample.png")
    (repo / "dvc.yaml").write_text(DVC_YAML)

    cp = _run([DVC, "plots", "show"], repo)  # plain: html_template comes from config
    assert "failed to load" not in cp.stderr, cp.stderr
    assert (repo / "dvc_plots" / "index.html").is_file()
    return repo


def test_template_is_committed_and_sane():
    text = TEMPLATE.read_text(encoding="utf8")
    assert TEMPLATE.stat().st_size < 1_500_000
    assert "{plot_divs}" in text
    assert "{scripts}" not in text  # dvc-render would put its CDN tags there
    for lib in ("vega 5.", "vega-lite 5.", "vega-embed 6."):
        assert f"/*! {lib}" in text
    assert "BSD-3-Clause" in text and "Redistributions in binary form" in text


def test_html_has_no_remote_scripts(plots_repo):
    html = (plots_repo / "dvc_plots" / "index.html").read_text(encoding="utf8")
    assert re.findall(r"<script[^>]+src\s*=\s*[\"']?(?:https?:)?//", html, flags=re.I) == []
    assert "cdn.jsdelivr" not in html
    # inlined libraries, 3 vega-embed plots, the PNG copied next to the page
    assert html.count("vegaEmbed('#") == 3
    assert '"field": "class"' in html  # scatter_class template was applied
    assert (plots_repo / "dvc_plots" / "static" / "workspace_sample.png").is_file()


@browser_test
def test_charts_render_offline(plots_repo, tmp_path):
    res = check_rendered(plots_repo / "dvc_plots" / "index.html", min_charts=3,
                         min_images=1, screenshot=tmp_path / "shot.png")
    assert res["charts_rendered"] >= 3, res
    assert res["embed_rejected"] == 0 and res["empty_specs"] == 0, res
    assert all(res["libraries"].values()), res
    assert res["images_loaded"] == 1, res
    assert res["external_urls"] == [], res
    # data marks are coloured pixels (axes/text are grey/black)
    assert all(c["colored"] > 50 for c in res["charts"]), res["charts"]
    assert res["screenshot"]["colored_pixels"] > 500, res["screenshot"]


@browser_test
def test_check_fails_without_inlined_js(plots_repo, tmp_path):
    """A template without the JS (here: dvc's default, CDN-only page, with
    network blocked) must make check_rendered fail: the check can fail."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><head><title>x</title>{refresh_tag}</head>"
                      "<body>{plot_divs}</body></html>")
    out = tmp_path / "out"
    _run([DVC, "plots", "show", "--html-template", broken, "--out", out], plots_repo)
    html = out / "index.html"
    assert "vegaEmbed('#" in html.read_text(encoding="utf8")

    with pytest.raises(PlotsCheckError, match=r"only 0 of 2 expected charts rendered"):
        check_rendered(html, min_charts=2)

    # dvc's built-in template (scripts from cdn.jsdelivr.net) fails too,
    # because the check blocks all network access.
    from dvc_render.html import PAGE_HTML

    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML)
    out2 = tmp_path / "out2"
    _run([DVC, "plots", "show", "--html-template", default, "--out", out2], plots_repo)
    assert "cdn.jsdelivr" in (out2 / "index.html").read_text(encoding="utf8")
    with pytest.raises(PlotsCheckError, match="not loaded"):
        check_rendered(out2 / "index.html", min_charts=1)


def test_missing_chromium_message(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<html><body></body></html>")
    with pytest.raises(PlotsCheckError, match="install_chromium.sh"):
        check_rendered(page, 1, chromium=str(tmp_path / "no-such-chromium"))


def _own_plots_copy(dest: Path) -> Path:
    """The files `dvc plots show` reads in this repository: the pipeline and DVC config (no cache), and plots/."""
    dest.mkdir()
    for name in ("dvc.yaml", "dvc.lock", "params.yaml"):
        shutil.copy(ROOT / name, dest / name)
    for folder in (".dvc/offline", ".dvc/plots", "plots"):
        shutil.copytree(ROOT / folder, dest / folder)
    shutil.copy(ROOT / ".dvc" / "config", dest / ".dvc" / "config")
    _run(["git", "init", "-q"], dest)
    return dest


def _defined_charts() -> int:
    """vega plots the project defines: the top-level overlays plus the stages' own `plots:` (images aside)."""
    import yaml

    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    top = [p for p in pipeline["plots"] if isinstance(p, dict)]
    own = [p for stage in pipeline["stages"].values() for p in stage.get("plots", [])]
    return len(top) + len(own)


@browser_test
def test_the_projects_own_plots_page_renders_offline(tmp_path):
    """`python tools/plots/check_offline.py` on this repository's committed plots: every chart `dvc plots show`
    puts on the page draws, and every image plot (plots/images/**.png) loads, with no network."""
    repo = _own_plots_copy(tmp_path / "project")
    cp = subprocess.run([sys.executable, str(ROOT / "tools/plots/check_offline.py"), "--json"], cwd=repo,
                        env=_env(), capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, f"check_offline failed:\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
    result = json.loads(cp.stdout[: cp.stdout.rindex("\nOK: ")])
    pngs = sorted((ROOT / "plots" / "images").rglob("*.png"))
    assert result["charts_rendered"] == result["charts_found"] == _defined_charts() >= 5, result
    assert result["images_loaded"] == result["images_found"] == len(pngs) >= 1, result
    assert result["embed_rejected"] == 0 and result["external_urls"] == [], result
    assert "failed to load" not in cp.stderr, cp.stderr
