"""Shared entry-point plumbing for the thin scripts in stages/."""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Callable

from .errors import Interrupted, VadlibError


def stage_parser(description: str, variant: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if variant:
        parser.add_argument("variant", help="variant name, a key of `variants` in params.yaml")
    return parser


def run(main: Callable[[], None]) -> None:
    """Run a stage; a user-fixable problem becomes one clear message and exit code 2, not a traceback.

    SIGTERM (what `kill` and job schedulers send) is handled like Ctrl-C, so both stop cleanly. SIGINT is installed
    explicitly too: a launcher such as `nohup ... &` or a non-interactive shell starts children with SIGINT
    ignored, and Python keeps an inherited "ignore", so without this Ctrl-C / `kill -INT` would do nothing.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        main()
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        sys.exit(130)
    except VadlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: nothing was written for this stage; run `dvc repro` to start again", file=sys.stderr)
        sys.exit(130)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
