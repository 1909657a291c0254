"""Suite-wide settings and the test tiers.

`pytest -m "not slow and not browser"` is the fast tier (`make test-fast`); `make test` runs everything. Both make
targets run on 2 pytest-xdist workers, a test file on one worker (`-n 2 --dist loadfile`). Whole files
are marked here, from one table; a file where only some tests are slow marks those tests itself.
"""
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from browser_check import CHROMIUM

# Bytecode of this run (and of the subprocesses it starts) goes outside the working tree: under pytest-xdist
# (`make test`: 2 workers) a test that compares the tree's `git status --ignored` before and after something (the
# demo's) must not see a __pycache__ folder a test on the other worker has just made.
PYCACHE = Path(tempfile.gettempdir()) / "vadlib-tests-pycache"
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
# No test depends on whether this machine has Debian's dataset-fashion-mnist: the system folder `prepare` falls back to
# is one that does not exist (which also keeps every test from running apt-get); a test that wants one sets its own.
os.environ.setdefault("VADLIB_SYSTEM_DATA_ROOT", str(Path(tempfile.gettempdir()) / "vadlib-tests-no-system-data"))

MARKERS = {
    "slow": "minutes: end-to-end pipeline runs, training in subprocesses, torchrun, the benchmark and GPU-check "
            "smoke runs (left out of `make test-fast`)",
    "browser": "renders pages in headless Chromium (tools/plots/install_chromium.sh, which `make test` runs; "
               "skipped without /usr/bin/chromium, in one summary line)",
    "cuda": "needs a CUDA GPU (skipped without one; benchmarks/gpu_check.sh runs them on a GPU machine)",
}
FILE_MARKERS = {  # test file (module name) -> markers for every test in it
    "test_end_to_end": ("slow",),
    "test_remote": ("slow",),
    "test_distributed": ("slow",),
    "test_benchmark": ("slow",),
    "test_gpu_check": ("slow",),
    "test_cuda": ("cuda",),
}


def pytest_configure(config):
    torch.set_num_threads(1)  # tiny tensors: one thread avoids oversubscribing 2 cores (runs in every xdist worker)
    known = {line.split(":")[0].strip() for line in config.getini("markers")}
    for name, text in MARKERS.items():
        if name not in known:
            config.addinivalue_line("markers", f"{name}: {text}")


BROWSER_SKIP = (f"{CHROMIUM} not installed: tools/plots/install_chromium.sh (which `make test` runs) needs root or "
                "passwordless sudo, apt-get and the Debian mirrors; CI runs these tests")


def pytest_runtest_setup(item):
    """Browser tests skip from here when chromium is absent: one location and reason, so one summary line for all."""
    if item.get_closest_marker("browser") and not os.access(CHROMIUM, os.X_OK):
        pytest.skip(BROWSER_SKIP)


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in FILE_MARKERS.get(item.path.stem, ()):
            item.add_marker(getattr(pytest.mark, name))
