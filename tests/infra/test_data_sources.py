"""Where `prepare` finds the data: VADLIB_DATA_ROOT, data.root, then the system folder of Debian's package; what it
fetches when none has them (the package as root, torchvision's download); the one error naming the three ways."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from idx_fixtures import write_fashion_idx
from vadlib.infra import data, data_sources
from vadlib.infra.config import DATA_ROOT_ENV, DataConfig
from vadlib.infra.data_sources import SYSTEM_ROOT_ENV, find_or_fetch, locate, package_blocker
from vadlib.infra.errors import DataError

PROJECT = Path(__file__).resolve().parents[2]
THREE_WAYS = ("VADLIB_DATA_ROOT", "data.root", "apt-get install dataset-fashion-mnist", "data.download: true")


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """env/, root/ and system/ under a scratch cwd, none holding data yet; nothing is installed or downloaded."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SYSTEM_ROOT_ENV, str(tmp_path / "system"))
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    monkeypatch.setattr(data, "_download", lambda root: "offline in tests")
    return {name: tmp_path / name for name in ("env", "root", "system")}


def fills(folder: Path):
    """A stand-in for an install or a download: writes the files into `folder`, reports no failure."""
    def fetch(*args):
        write_fashion_idx(folder, n_train=30, n_test=20)
    return fetch


def cfg(**kw) -> DataConfig:
    return DataConfig(**{"root": "root", "download": False, "verify_md5": False, "n_train": 20, "n_test": 10,
                         "n_val": 5, **kw})


@pytest.mark.parametrize("holders, expected", [
    (("env", "root", "system"), "VADLIB_DATA_ROOT"),
    (("root", "system"), "data.root"),
    (("system",), "the system folder"),
])
def test_the_first_folder_holding_the_files_serves(folders, monkeypatch, holders, expected):
    monkeypatch.setenv(DATA_ROOT_ENV, str(folders["env"]))
    for name in holders:
        write_fashion_idx(folders[name], n_train=30, n_test=20)
    assert locate(cfg())[0] == expected


def test_a_folder_lacking_one_file_is_passed_over(folders, monkeypatch):
    monkeypatch.setenv(DATA_ROOT_ENV, str(folders["env"]))
    write_fashion_idx(folders["env"], n_train=30, n_test=20)
    (folders["env"] / "t10k-labels-idx1-ubyte.gz").unlink()
    write_fashion_idx(folders["root"], n_train=30, n_test=20)
    assert locate(cfg()) == ("data.root", Path("root"))


def test_none_is_one_error_naming_each_folder_and_the_three_ways(folders):
    (folders["root"]).mkdir()
    with pytest.raises(DataError) as info:
        find_or_fetch(cfg())
    message = str(info.value)
    assert "\n" not in message and message.startswith("Fashion-MNIST data folder not found: ")
    assert f"data.root {folders['root']} holds none of the Fashion-MNIST files" in message
    assert f"the system folder {folders['system']} does not exist" in message
    assert all(way in message for way in THREE_WAYS)


# ---------------------------------------------------------------- fetching when no folder has them


def test_the_package_is_installed_first_where_it_can_be(folders, monkeypatch, capsys):
    monkeypatch.setattr(data_sources, "package_blocker", lambda: None)
    monkeypatch.setattr(data_sources, "install_package", fills(folders["system"]))
    monkeypatch.setattr(data, "_download", lambda root: pytest.fail("downloaded although the package served"))
    assert find_or_fetch(cfg(download=True)) == ("the system folder", folders["system"])
    assert "installing Debian's dataset-fashion-mnist (apt-get)" in capsys.readouterr().err


def test_torchvision_downloads_into_the_data_root_when_the_package_cannot_serve(folders, monkeypatch):
    monkeypatch.setattr(data, "_download", fills(folders["root"] / "FashionMNIST/raw"))
    assert find_or_fetch(cfg(download=True)) == ("data.root", Path("root"))


def test_both_attempts_failing_are_said_in_the_one_error(folders, monkeypatch):
    monkeypatch.setattr(data_sources, "package_blocker", lambda: None)
    monkeypatch.setattr(data_sources, "install_package", lambda: "E: Unable to locate package dataset-fashion-mnist")
    with pytest.raises(DataError, match=r"apt-get install dataset-fashion-mnist failed: E: Unable to locate package"
                                        r".*torchvision's download attempt failed: offline in tests.*three ways"):
        find_or_fetch(cfg(download=True))


def test_without_download_nothing_is_fetched(folders, monkeypatch):
    monkeypatch.setattr(data_sources, "package_blocker", lambda: pytest.fail("tried the package"))
    monkeypatch.setattr(data, "_download", lambda root: pytest.fail("tried to download"))
    with pytest.raises(DataError, match="three ways"):
        find_or_fetch(cfg(download=False))


@pytest.mark.parametrize("uid, apt, override, reason", [
    (0, "/usr/bin/apt-get", True, "VADLIB_SYSTEM_DATA_ROOT names another system folder"),
    (1000, "/usr/bin/apt-get", False, "not root"),
    (0, None, False, "no apt-get (not Debian or Ubuntu)"),
    (0, "/usr/bin/apt-get", False, None),
])
def test_the_package_is_tried_only_as_root_with_apt_and_the_package_folder(monkeypatch, uid, apt, override, reason):
    if override:
        monkeypatch.setenv(SYSTEM_ROOT_ENV, "/elsewhere")
    else:
        monkeypatch.delenv(SYSTEM_ROOT_ENV, raising=False)
    assert package_blocker(uid=uid, which=lambda name: apt) == reason


def test_install_updates_the_lists_then_installs_and_reports_apts_last_line():
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        failed = cmd[1] == "install"
        return subprocess.CompletedProcess(cmd, 100 if failed else 0, "", "Reading lists\nE: no space left\n")

    assert data_sources.install_package(run) == "E: no space left"
    assert calls == [["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "dataset-fashion-mnist"]]
    assert data_sources.install_package(lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, "", "")) is None


# ---------------------------------------------------------------- the prepare stage, as DVC runs it


def _prepare_stage(tmp_path, env_extra: dict) -> subprocess.CompletedProcess:
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["data"].update(root="../no-such-data", download=False, verify_md5=False, n_train=20, n_test=10, n_val=5)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != DATA_ROOT_ENV}
    return subprocess.run([sys.executable, str(PROJECT / "stages/prepare.py")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**env, "PYTHONPATH": str(PROJECT), **env_extra})


def test_a_run_whose_only_copy_is_the_system_folder(tmp_path):
    system = tmp_path / "usr-share-datasets"
    write_fashion_idx(system, n_train=60, n_test=30)
    work = tmp_path / "project"
    work.mkdir()
    proc = _prepare_stage(work, {SYSTEM_ROOT_ENV: str(system)})
    assert proc.returncode == 0, proc.stderr
    assert f"from {system} (the system folder)" in proc.stdout
    assert (work / "data/prepared/train.pt").is_file() and (work / "metrics/data.json").is_file()


def test_a_run_with_no_copy_stops_with_the_message_and_writes_nothing(tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    proc = _prepare_stage(work, {SYSTEM_ROOT_ENV: str(tmp_path / "none")})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: Fashion-MNIST data folder not found: ")
    assert all(way in proc.stderr for way in THREE_WAYS)
    assert sorted(p.name for p in work.iterdir()) == ["params.yaml"]
