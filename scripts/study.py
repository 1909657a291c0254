"""The campaigns around the pipeline, one entry point: `python scripts/study.py <campaign> <action> [options]`.

    .venv/bin/python scripts/study.py seeds queue|collect|report       # the seed study -> reports/study.md, README results
    .venv/bin/python scripts/study.py ablation run|report              # the Uniform ablation -> its table
    .venv/bin/python scripts/study.py rate-distortion queue|report     # the beta sweep -> reports/rate_distortion.md
    .venv/bin/python scripts/study.py sampler-sweep run                # sampler settings -> reports/sampler_sweep.md
    .venv/bin/python scripts/study.py tune run|evaluate VARIANT --set key=value ...   # tuning proxies, JSON lines
    .venv/bin/python scripts/study.py recipe-search run|report         # the recipe on validation images
    .venv/bin/python scripts/study.py fit-recipes run ad,normal nearest:0.2:100       # refits, JSON lines

Each campaign lives in vadlib/studies/<campaign>.py (its grid, runner, table and report, and its options:
`... <campaign> <action> --help`); params changes are `--set key=value` (params.yaml's names) wherever a campaign
takes them.
"""
from __future__ import annotations

import argparse

from vadlib.infra.cli import run
from vadlib.studies import (ablation, fit_recipes, rate_distortion, recipe_search, sampler_sweep, seed_campaign,
                            tune)

CAMPAIGNS = {  # name: (module, one line of help)
    "seeds": (seed_campaign, "the seed study as queued DVC experiments: queue | collect | report"),
    "ablation": (ablation, "the Uniform ablation, one change at a time from the original recipe: run | report"),
    "rate-distortion": (rate_distortion, "a one-seed beta sweep as queued DVC experiments: queue | report"),
    "sampler-sweep": (sampler_sweep, "sampler settings scored on the committed models: run"),
    "tune": (tune, "one variant under --set settings, scored cheaply or by the whole evaluation: run | evaluate"),
    "recipe-search": (recipe_search, "the training recipe chosen again on validation images, same search per variant: run | report"),
    "fit-recipes": (fit_recipes, "the committed models' test codes refitted under each recipe: run"),
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="campaign", required=True, metavar="CAMPAIGN")
    for name, (module, summary) in CAMPAIGNS.items():
        module.register(sub.add_parser(name, help=summary, description=module.__doc__,
                                       formatter_class=argparse.RawDescriptionHelpFormatter))
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    run(lambda: args.func(args))


if __name__ == "__main__":
    main()
