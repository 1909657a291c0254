"""tools/plots/install_chromium.sh, which `make test` runs first: without root, apt-get or a working mirror it says why
in one line and lets the suite go on (the browser tests then skip, in one summary line); CI's REQUIRE_CHROMIUM=1
makes that an error. Run with a PATH of stand-ins, so nothing is installed."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser_check import CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools/plots/install_chromium.sh"
BASH = shutil.which("bash")


def _tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def _install(tmp_path, uid: int, apt: str | None = None, **env) -> subprocess.CompletedProcess:
    """The script with `id -u` answering `uid`, apt-get replaced by `apt` (a shell body; None: absent), no sudo."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "id", f"echo {uid}")
    for name in ("date", "tail"):
        os.symlink(shutil.which(name), bin_dir / name)
    if apt is not None:
        _tool(bin_dir, "apt-get", apt)
    return subprocess.run([BASH, str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir), "PLOTS_CHECK_CHROMIUM": str(tmp_path / "chromium"), **env})


def test_without_root_it_says_why_in_one_line_and_lets_the_tests_go_on(tmp_path):
    proc = _install(tmp_path, uid=1000, apt="exit 0")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == ("chromium not installed (needs root or passwordless sudo for apt-get): the browser tests "
                           "are skipped; CI runs them\n")


def test_without_apt_get_it_says_so(tmp_path):
    proc = _install(tmp_path, uid=0)
    assert proc.returncode == 0 and "(no apt-get: not Debian or Ubuntu)" in proc.stdout


def test_a_failed_install_names_apts_last_line(tmp_path):
    apt = 'if [ "$1" = install ]; then echo "Reading package lists..."; echo "E: Unable to locate package chromium"; ' \
          "exit 100; fi"
    proc = _install(tmp_path, uid=0, apt=apt)
    assert proc.returncode == 0
    assert "apt-get install chromium failed: E: Unable to locate package chromium" in proc.stdout


def test_ci_makes_a_missing_chromium_an_error(tmp_path):
    proc = _install(tmp_path, uid=1000, REQUIRE_CHROMIUM="1")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == "error: cannot install chromium: needs root or passwordless sudo for apt-get\n"


def test_an_installed_chromium_is_left_alone(tmp_path):
    _tool(tmp_path, "chromium", "echo Chromium 1.0")
    proc = _install(tmp_path, uid=1000)
    assert proc.returncode == 0 and proc.stdout == "chromium already installed: Chromium 1.0\n"


def test_ci_asks_for_chromium():
    assert re.search(r"^export REQUIRE_CHROMIUM=1\b", (ROOT / ".ci/run").read_text(), flags=re.M)


@pytest.mark.skipif(os.access(CHROMIUM, os.X_OK), reason="chromium is installed here: the browser tests run")
def test_without_chromium_the_browser_tests_skip_in_one_summary_line():
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-m", "browser",
                           "tests/tooling/test_plots_offline.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert proc.returncode == 0 and len(skipped) == 1, proc.stdout[-2000:]
    assert re.match(r"SKIPPED \[[3-9]\] .*not installed: .*needs root or passwordless sudo.*CI runs these tests",
                    skipped[0])
