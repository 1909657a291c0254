"""vadlib.data: parsing, subset selection, and that every bad input is a clear DataError with no output left."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from idx_fixtures import write_fashion_idx, write_idx_images, write_idx_labels
from vadlib.infra import data
from vadlib.infra.config import DATA_ROOT_ENV, DataConfig
from vadlib.infra.data import CLASS_NAMES, load_prepared, load_split, select_subset, validation_rows
from vadlib.pipeline.prepare import prepare
from vadlib.infra.errors import DataError

PROJECT = Path(__file__).resolve().parents[2]

REAL_DATA = PROJECT.parent / "shared/data/fashion-mnist"
OUT, METRICS = Path("data/prepared"), Path("metrics/data.json")


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch cwd with valid small files in ./fm; nothing reaches the repo or the network."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    monkeypatch.setattr(data, "_download", lambda root: "offline in tests")
    write_fashion_idx(tmp_path / "fm", n_train=200, n_test=100, gz=True)
    return tmp_path


def cfg(root="fm", **kw):
    return DataConfig(**{"root": str(root), "download": False, "verify_md5": False, "n_train": 50, "n_test": 20,
                         "n_val": 5, **kw})


def assert_nothing_written(tmp_path):
    assert not OUT.exists() and not METRICS.exists() and not Path("metrics").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, gz):
    arrays = write_fashion_idx(tmp_path, n_train=30, n_test=20, gz=gz, seed=3)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = load_split(tmp_path, split, verify_md5=False)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        assert np.array_equal(images.numpy(), arrays[f"{prefix}-images-idx3-ubyte"])
        assert np.array_equal(labels.numpy(), arrays[f"{prefix}-labels-idx1-ubyte"])


def test_finds_torchvision_layout(tmp_path):
    write_fashion_idx(tmp_path / "FashionMNIST" / "raw", n_train=10, n_test=10, gz=False)
    assert load_split(tmp_path, "test", verify_md5=False)[0].shape == (10, 28, 28)


def test_class_names():
    assert len(CLASS_NAMES) == 10 and CLASS_NAMES[0] == "T-shirt/top" and CLASS_NAMES[9] == "Ankle boot"


# ---------------------------------------------------------------- subsets


def test_select_first():
    assert torch.equal(select_subset(torch.arange(100) % 10, 7, "first", seed=0), torch.arange(7))


def test_select_stratified():
    labels = torch.from_numpy(np.random.default_rng(0).integers(0, 10, 500))
    idx = select_subset(labels, 25, "stratified", seed=1)
    assert idx.dtype == torch.int64 and torch.equal(idx, idx.sort().values) and len(idx.unique()) == 25
    assert torch.bincount(labels[idx], minlength=10).tolist() == [3] * 5 + [2] * 5
    assert torch.equal(idx, select_subset(labels, 25, "stratified", seed=1))
    assert not torch.equal(idx, select_subset(labels, 25, "stratified", seed=2))


def test_select_stratified_short_class():
    labels = torch.tensor([0] * 50 + [1] * 2 + list(range(2, 10)) * 10)
    with pytest.raises(DataError, match=r"data.n_train: .* class 1 \(Trouser\)"):
        select_subset(labels, 50, "stratified", seed=0, name="data.n_train")


# ---------------------------------------------------------------- prepare


def test_prepare_writes_outputs(work):
    metrics = prepare(cfg(subset="stratified"), seed=0)
    assert json.loads(METRICS.read_text()) == metrics
    assert metrics["train_per_class"] == dict.fromkeys(CLASS_NAMES, 5)
    assert sum(metrics["test_per_class"].values()) == 20 and metrics["subset"] == "stratified"
    full_images, full_labels = load_split("fm", "train", verify_md5=False)
    train = load_prepared(OUT / "train.pt")
    assert train["images"].shape == (50, 28, 28) and train["class_names"] == CLASS_NAMES
    assert torch.equal(train["images"], full_images[train["indices"]])
    assert torch.equal(train["labels"], full_labels[train["indices"]])
    assert load_prepared(OUT / "test.pt")["labels"].shape == (20,)
    assert not list(work.rglob("*.tmp"))


@pytest.mark.parametrize("pool", ["unused", "all"])
def test_prepare_writes_the_evaluator_pool(work, pool):
    """unused: exactly the train images no variant trains on; all: the whole train split (full-scale runs)."""
    metrics = prepare(cfg(evaluator_pool=pool), seed=0)
    train = load_prepared(OUT / "train.pt")
    reference = load_prepared("data/reference/pool.pt")
    taken = set(train["indices"].tolist())
    if pool == "unused":
        assert set(reference["indices"].tolist()) == set(range(200)) - taken
    else:
        assert torch.equal(reference["indices"], torch.arange(200))
    assert metrics["n_reference_pool"] == len(reference["indices"]) and metrics["evaluator_pool"] == pool
    assert load_prepared("data/reference/test_full.pt")["labels"].shape == (100,)


def test_env_var_overrides_root(work, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(work / "fm"))
    assert prepare(cfg(root="elsewhere"), seed=0)["n_train"] == 50


def test_load_prepared_rejects_bad_layout(work):
    torch.save({"images": torch.zeros(3, 28, 28), "labels": torch.zeros(3, dtype=torch.int64)}, "bad.pt")
    with pytest.raises(DataError, match="bad.pt"):
        load_prepared("bad.pt")
    with pytest.raises(DataError, match="missing.pt"):
        load_prepared("missing.pt")


# ---------------------------------------------------------------- bad inputs leave nothing behind


def _rewrite(name, fn):
    def apply(fm: Path):
        path = fm / f"{name}.gz"
        raw = gzip.decompress(path.read_bytes())
        path.unlink()
        (fm / name).write_bytes(fn(raw))
    return apply


def _corrupt_gz(fm: Path):
    path = fm / "train-images-idx3-ubyte.gz"
    blob = bytearray(path.read_bytes())
    blob[20:60] = b"\xff" * 40
    path.write_bytes(bytes(blob))


def _images(**kw):
    def apply(fm: Path):
        (fm / "train-images-idx3-ubyte.gz").unlink()
        write_idx_images(fm / "train-images-idx3-ubyte", np.zeros(kw.get("shape", (200, 28, 28))), kw.get("magic", 2051))
    return apply


def _labels(labels, magic=2049):
    def apply(fm: Path):
        (fm / "t10k-labels-idx1-ubyte.gz").unlink()
        write_idx_labels(fm / "t10k-labels-idx1-ubyte", labels, magic)
    return apply


BAD = {
    "missing folder": (lambda fm: None, {"root": "nope"}, r"nope does not exist.*VADLIB_DATA_ROOT.*data.download"),
    "empty folder": (lambda fm: (fm / "empty").mkdir(), {"root": "fm/empty"}, r"empty holds none of the Fashion-MNIST files.*data.root"),
    "missing file": (lambda fm: (fm / "t10k-labels-idx1-ubyte.gz").unlink(), {}, r"lacks t10k-labels-idx1-ubyte \("),
    "truncated": (_rewrite("train-images-idx3-ubyte", lambda b: b[:-100]), {}, r"train-images-idx3-ubyte: truncated"),
    "trailing bytes": (_rewrite("t10k-labels-idx1-ubyte", lambda b: b + b"\0"), {}, r"t10k-labels.*trailing bytes"),
    "short header": (_rewrite("train-labels-idx1-ubyte", lambda b: b[:5]), {}, r"train-labels.*truncated.*header"),
    "corrupted gz": (_corrupt_gz, {}, r"train-images-idx3-ubyte.gz: corrupted gzip"),
    "wrong magic": (_labels(np.zeros(100), magic=2051), {}, r"t10k-labels-idx1-ubyte: wrong magic number 2051, expected 2049"),
    "wrong image size": (_images(shape=(200, 32, 32)), {}, r"train-images-idx3-ubyte: images are 32x32, expected 28x28"),
    "count mismatch": (_labels(np.zeros(99)), {}, r"t10k-images.* 100 images but .*t10k-labels.* 99 labels"),
    "label out of range": (_labels(np.full(100, 10)), {}, r"t10k-labels-idx1-ubyte: label 10 at index 0, expected 0..9"),
    "md5 mismatch": (lambda fm: None, {"verify_md5": True}, r"train-images-idx3-ubyte.gz: MD5 .*official.*verify_md5: false"),
    "subset too large": (lambda fm: None, {"n_train": 300}, r"data.n_train: got 300 but the train split has 200 images"),
    "test subset too large": (lambda fm: None, {"n_test": 101}, r"data.n_test: got 101 but the test split has 100 images"),
    "download fails": (lambda fm: None, {"root": "nope", "download": True}, r"nope does not exist.*download attempt failed: offline"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input(work, case):
    mutate, overrides, pattern = BAD[case]
    mutate(work / "fm")
    with pytest.raises(DataError, match=pattern) as info:
        prepare(cfg(**overrides), seed=0)
    assert "\n" not in str(info.value)
    assert_nothing_written(work)


# ---------------------------------------------------------------- download path (torchvision faked: no network)


def _fake_torchvision(monkeypatch, behaviour):
    calls = []

    class FashionMNIST:
        mirrors = ["http://fashion-mnist.example.invalid/"]

        def __init__(self, root, train=True, download=False):
            calls.append((root, train, download))
            behaviour(Path(root))

    datasets = types.ModuleType("torchvision.datasets")
    datasets.FashionMNIST = FashionMNIST
    tv = types.ModuleType("torchvision")
    tv.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    monkeypatch.setattr(data, "_probe", lambda url, timeout: None)
    return calls


def test_download_fills_torchvision_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = _fake_torchvision(monkeypatch, lambda root: write_fashion_idx(root / "FashionMNIST" / "raw", gz=False))
    prepare(cfg(root="dl", download=True), seed=0)
    assert calls == [("dl", True, True)] and (OUT / "train.pt").exists()


def test_download_failure_cleans_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def fail(root):
        (root / "FashionMNIST" / "raw").mkdir(parents=True)
        raise RuntimeError("Error downloading x:\nTried mirror, got:\n<urlopen error [Errno -2] Name or service not known>")

    _fake_torchvision(monkeypatch, fail)
    with pytest.raises(DataError, match=r"dl does not exist.*download attempt failed: <urlopen error"):
        prepare(cfg(root="dl", download=True), seed=0)
    assert not (tmp_path / "dl").exists()
    assert_nothing_written(tmp_path)


def test_probe_failure_skips_download(tmp_path, monkeypatch):
    calls = _fake_torchvision(monkeypatch, lambda root: None)
    monkeypatch.setattr(data, "_probe", lambda url, timeout: "Name or service not known")
    with pytest.raises(DataError, match=r"cannot reach fashion-mnist.example.invalid: Name or service"):
        data.ensure_files(tmp_path, download=True)
    assert calls == []


# ---------------------------------------------------------------- stage script


def _stage(tmp_path, params_text):
    (tmp_path / "params.yaml").write_text(params_text)
    return subprocess.run(
        [sys.executable, str(PROJECT / "stages/prepare.py"), "--params", "params.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )


def test_stage_bad_params(tmp_path):
    proc = _stage(tmp_path, "seed: 0\ndata: {n_train: 0}\n")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "data.n_train: got 0" in proc.stderr and not (tmp_path / "data").exists()


def test_stage_missing_params(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(PROJECT / "stages/prepare.py"), "--params", "nope.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: nope.yaml")


# ---------------------------------------------------------------- the real data set


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"{REAL_DATA} not present")
def test_real_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    c = DataConfig(root=str(REAL_DATA), download=False, verify_md5=True, n_train=1000, n_test=1000, subset="first")
    metrics = prepare(c, seed=0)
    for split in ("train", "test"):
        d = load_prepared(OUT / f"{split}.pt")
        assert d["images"].shape == (1000, 28, 28) and d["images"].dtype == torch.uint8
        assert d["labels"].dtype == torch.int64 and torch.equal(d["indices"], torch.arange(1000))
        assert sum(metrics[f"{split}_per_class"].values()) == 1000
        assert torch.bincount(d["labels"], minlength=10).tolist() == list(metrics[f"{split}_per_class"].values())


# ---------------------------------------------------------------- validation split

def test_validation_rows_are_the_next_test_split_images_the_test_subset_does_not_hold():
    assert validation_rows(100, torch.arange(20), 5).tolist() == [20, 21, 22, 23, 24]  # subset: first
    stratified = torch.tensor([0, 3, 4, 9])
    assert validation_rows(12, stratified, 5).tolist() == [1, 2, 5, 6, 7]
    assert validation_rows(12, stratified, 0).tolist() == []


def test_validation_beyond_the_test_split_is_one_clear_error():
    with pytest.raises(DataError, match=r"data\.n_val: got 81 but the test split has only 80 images besides the 20"):
        validation_rows(100, torch.arange(20), 81)


def test_prepare_writes_validation_images_disjoint_from_the_test_images(work):
    m = prepare(cfg(n_val=30), seed=0)
    val, test = load_prepared("data/validation/val.pt"), load_prepared(OUT / "test.pt")
    assert m["n_val"] == 30 and sum(m["val_per_class"].values()) == 30
    assert val["indices"].tolist() == list(range(20, 50))
    assert not set(val["indices"].tolist()) & set(test["indices"].tolist())


def test_prepare_refuses_a_validation_set_the_split_cannot_hold_and_writes_nothing(work):
    with pytest.raises(DataError, match=r"data\.n_val"):
        prepare(cfg(n_val=81), seed=0)
    assert_nothing_written(work)
    assert not Path("data/validation").exists()
