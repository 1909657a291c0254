"""`make repro`: pull what the DVC remote holds, then run only what is still missing.

    make repro                                     # = .venv/bin/python scripts/repro.py
    .venv/bin/python scripts/repro.py --no-pull    # straight to `dvc repro`
    .venv/bin/python scripts/repro.py -- train@normal --force   # arguments after -- go to `dvc repro`

With a default remote (`dvc remote default`: the project's is a folder beside the checkout; docs/setup.md), it first
runs `dvc pull --run-cache`, which brings the committed results and DVC's run-cache, so a fresh clone of committed
results runs no stage. A remote that is absent, unreachable or lacks some objects stops nothing: one line says so and
`dvc repro` runs the stages whose outputs are still missing.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from vadlib.infra.experiments import dvc

PULL = ("pull", "--run-cache")


def default_remote() -> tuple[str, str] | None:
    """(name, url) of the default remote, or None; a local folder's url comes back absolute."""
    proc = dvc("remote", "default", check=False)
    name = proc.stdout.strip()
    if proc.returncode != 0 or not name:
        return None
    return name, dvc("config", f"remote.{name}.url", check=False).stdout.strip()


def absent_folder(url: str) -> bool:
    """A local-folder remote that does not exist yet: nothing to pull, no need to ask DVC."""
    return not re.match(r"^[a-z][a-z0-9+.-]*://", url) and not Path(url).is_dir()


def why_incomplete(output: str) -> str:
    """The short reason from a failed `dvc pull`'s output: how many objects the remote lacks, else DVC's error."""
    missing = re.search(r"Missing cache files:\n((?:.*md5: .*\n?)+)", output)
    if missing:
        return f"it lacks {len(missing.group(1).splitlines())} of this revision's objects"
    errors = [line.removeprefix("ERROR: ").strip() for line in output.splitlines() if line.startswith("ERROR:")]
    return errors[-1] if errors else "dvc pull failed"


def pull(name: str, url: str) -> str:
    """Pull outputs and run-cache; the one line to print, whatever happened."""
    if absent_folder(url):
        return f"remote '{name}': {url} does not exist (`make push` fills it); the stages not up to date run here"
    proc = dvc(*PULL, check=False)
    if proc.returncode == 0:
        last = (proc.stdout.strip().splitlines() or ["nothing to pull"])[-1]
        return f"remote '{name}': {last}"
    return (f"remote '{name}' ({url}): pull incomplete, {why_incomplete(proc.stdout + proc.stderr)}; "
            "the stages whose outputs are missing run here")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-pull", action="store_true", help="skip the pull from the DVC remote")
    ap.add_argument("repro_args", nargs=argparse.REMAINDER, help="after --: arguments for `dvc repro`")
    args = ap.parse_args(argv)
    remote = None if args.no_pull else default_remote()
    if remote:
        print(pull(*remote), flush=True)
    elif not args.no_pull:
        print("no DVC remote (`dvc remote add -d`, docs/setup.md): the stages not up to date run here", flush=True)
    extra = args.repro_args[1:] if args.repro_args[:1] == ["--"] else args.repro_args
    return dvc("repro", *extra, capture=False, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
