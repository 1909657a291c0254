"""Turn `quality_sweep.sh`'s JSON lines (`scripts/study.py tune evaluate` output) into one markdown table: one row
per run and sampler temperature, grouped by variant, each group ranked by the best sampler's recognisable rate
(share of real's).

    python benchmarks/quality_table.py <run folder>/quality_sweep.jsonl > <run folder>/quality_sweep.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # vadlib from the checkout, without an install
from vadlib.infra.markdown import fixed, table as markdown_table  # noqa: E402

COLUMNS = ("settings", "T", "test course_loss", "train", "best sampler", "FD", "FD / baseline", "recognisable",
           "vs real", "min class", "nearest-train ratio", "5-NN", "5-NN cosine")
ORDER = {"ad": 0, "normal": 1, "uniform": 2, "laplace": 3}  # other variants follow, by name


def cells(r: dict) -> list[str]:
    return [" ".join(f"`{s}`" for s in r["settings"]) or "(defaults)", f"{r['temperature']:g}",
            fixed(r["test_course_loss"]), fixed(r["train_course_loss"]), r["best_sampler"], fixed(r["best_fd"], 2),
            *(fixed(r[k], 3) for k in ("fd_vs_baseline", "recognisable", "recognisable_vs_real", "min_class_share",
                                       "nn_train_ratio", "knn_accuracy", "knn_cosine_accuracy"))]


def table(rows: list[dict]) -> str:
    ranked = sorted(rows, key=lambda r: (ORDER.get(r["variant"], len(ORDER)), r["variant"], -r["recognisable_vs_real"]))
    return "\n".join(markdown_table(("variant", *COLUMNS), ([r["variant"], *cells(r)] for r in ranked))) + "\n"


def main() -> None:
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    print(table(rows), end="")


if __name__ == "__main__":
    main()
