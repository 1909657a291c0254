"""Where `prepare` gets Fashion-MNIST: the first folder of VADLIB_DATA_ROOT, data.root and the system folder of
Debian's `dataset-fashion-mnist` package that holds all four IDX files. When none does and `data.download` allows it,
the files are fetched: the package (as root, where apt-get exists), else torchvision's download into the data root.
Otherwise one DataError names the three ways to provide them.

DVC never sees which folder served: no folder is a dep of `prepare`, only the value of `data.root` (a param) is, and
the MD5 check (`data.verify_md5`) makes every source give the same bytes, so finding the files in another folder
changes neither `dvc status` nor the outputs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import data
from .config import DATA_ROOT_ENV, DataConfig
from .errors import DataError

SYSTEM_ROOT = Path("/usr/share/datasets/fashion-mnist")  # where `apt-get install dataset-fashion-mnist` puts them
SYSTEM_ROOT_ENV = "VADLIB_SYSTEM_DATA_ROOT"  # another system folder: tests, other distributions' layouts
PACKAGE = "dataset-fashion-mnist"
APT_TIMEOUT_S = 900.0  # apt-get update and a 31 MB package on a slow mirror; bounded so a hung apt cannot hang a run


def system_root() -> Path:
    """The package's folder, or the one VADLIB_SYSTEM_DATA_ROOT names instead."""
    return Path(os.environ.get(SYSTEM_ROOT_ENV) or SYSTEM_ROOT).expanduser()


def candidates(cfg: DataConfig) -> list[tuple[str, Path]]:
    """(label, folder) in search order; VADLIB_DATA_ROOT only when it is set."""
    env = os.environ.get(DATA_ROOT_ENV)
    first = [(DATA_ROOT_ENV, Path(env).expanduser())] if env else []
    return [*first, ("data.root", Path(cfg.root).expanduser()), ("the system folder", system_root())]


def missing_files(folder: Path) -> list[str]:
    """The IDX files `folder` lacks (each may be .gz or uncompressed, also in torchvision's FashionMNIST/raw)."""
    return [name for name in data.FILE_NAMES if data.find_file(folder, name) is None]


def locate(cfg: DataConfig) -> tuple[str, Path] | None:
    """The first (label, folder) holding all four files, or None."""
    return next(((label, folder) for label, folder in candidates(cfg) if not missing_files(folder)), None)


def package_blocker(uid: int | None = None, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """Why Debian's package cannot be installed here, or None when it can."""
    if system_root() != SYSTEM_ROOT:
        return f"{SYSTEM_ROOT_ENV} names another system folder"
    if (os.geteuid() if uid is None else uid) != 0:
        return "not root"
    if which("apt-get") is None:
        return "no apt-get (not Debian or Ubuntu)"
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def install_package(run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str | None:
    """`apt-get update` (a fresh container has no package lists), then install the package; why it failed, or None.
    A failed update is no failure by itself: the lists may be recent enough."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]
    try:
        run(["apt-get", "update", "-qq"], capture_output=True, text=True, env=env, timeout=APT_TIMEOUT_S)
        proc = run(install, capture_output=True, text=True, env=env, timeout=APT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if proc.returncode == 0 else _last_line(proc.stderr or proc.stdout)


def _fetch_package(cfg: DataConfig) -> str:
    """Install the package where that can work; return what happened, for the error if the files are still absent."""
    blocker = package_blocker()
    if blocker:
        return f"apt-get install {PACKAGE} not tried: {blocker}"
    print(f"data: no folder holds Fashion-MNIST; installing Debian's {PACKAGE} (apt-get) into {SYSTEM_ROOT}",
          file=sys.stderr)
    return f"apt-get install {PACKAGE} failed: {install_package() or 'files still missing'}"


def _fetch_download(cfg: DataConfig) -> str:
    """torchvision's download into the data root (VADLIB_DATA_ROOT, else data.root); what happened, as above."""
    return f"torchvision's download attempt failed: {data._download(cfg.resolved_root) or 'files still missing'}"


def _describe(label: str, folder: Path) -> str:
    missing = missing_files(folder)
    if not folder.exists():
        state = "does not exist"
    elif len(missing) == len(data.FILE_NAMES):
        state = "holds none of the Fashion-MNIST files"
    else:
        state = f"lacks {', '.join(missing)} (.gz or uncompressed)"
    return f"{label} {folder.resolve()} {state}"


def unavailable(cfg: DataConfig, attempts: list[str]) -> DataError:
    """The one error when no folder holds the files: where it looked, what it tried, the three ways to fix it."""
    looked = "; ".join(_describe(label, folder) for label, folder in candidates(cfg))
    tried = "".join(f"; {a}" for a in attempts)
    root = cfg.resolved_root.resolve()
    return DataError(
        f"Fashion-MNIST data folder not found: {looked}{tried}. Provide the four IDX files "
        f"({', '.join(data.FILE_NAMES)}; each .gz or uncompressed) one of three ways: put them in {root} (or point "
        f"data.root in params.yaml or the env var {DATA_ROOT_ENV} at a folder that has them); as root on Debian or "
        f"Ubuntu, `apt-get install {PACKAGE}` (into {SYSTEM_ROOT}); or, on a machine with internet, set "
        f"data.download: true (torchvision downloads them into {root})"
    )


def find_or_fetch(cfg: DataConfig) -> tuple[str, Path]:
    """(label, folder) of the first folder with all four files, fetching them first when none has them."""
    found = locate(cfg)
    if found:
        return found
    attempts = []
    if cfg.download:
        for fetch in (_fetch_package, _fetch_download):
            attempts.append(fetch(cfg))
            found = locate(cfg)
            if found:
                return found
    raise unavailable(cfg, attempts)
