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

# Bytecode of this run (and of the subprocesses it starts) goes outside the working tree: under pytest-xdist
# (`make test`: 2 workers) a test that compares the tree's `git status --ignored` before and after something (the
# demo's) must not see a __pycache__ folder a test on the other worker has just made.
PYCACHE = Path(tempfile.gettempdir()) / "vadlib-tests-pycache"
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]

MARKERS = {
    "slow": "minutes: end-to-end pipeline runs, training in subprocesses, torchrun, the benchmark and GPU-check "
            "smoke runs (left out of `make test-fast`)",
    "browser": "renders pages in headless Chromium (tools/plots/install_chromium.sh, which `make test` runs; "
               "skipped without /usr/bin/chromium)",
    "cuda": "needs a CUDA GPU (skipped without one; benchmarks/gpu_check.sh runs them on a GPU machine)",
}
FILE_MARKERS = {  # test file (module name) -> markers for every test in it
    "test_end_to_end": ("slow",),
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


def pytest_collection_modifyitems(config, items):
    for item in items:
        for name in FILE_MARKERS.get(item.path.stem, ()):
            item.add_marker(getattr(pytest.mark, name))
