"""Turn `quality_sweep.sh`'s JSON lines (scripts/evaluate_one.py output) into one markdown table: one row per run and
sampler temperature, grouped by variant, each group ranked by the best sampler's recognisable rate (share of real's).

    python benchmarks/quality_table.py <run folder>/quality_sweep.jsonl > <run folder>/quality_sweep.md
"""
from __future__ import annotations

import json
import sys

COLUMNS = ("settings", "T", "test course_loss", "train", "best sampler", "FD", "FD / baseline", "recognisable",
           "vs real", "min class", "nearest-train ratio", "5-NN", "5-NN cosine")
ORDER = {"ad": 0, "normal": 1, "uniform": 2, "laplace": 3}  # other variants follow, by name


def cells(r: dict) -> list[str]:
    return [" ".join(f"`{s}`" for s in r["settings"]) or "(defaults)", f"{r['temperature']:g}",
            f"{r['test_course_loss']:.4f}", f"{r['train_course_loss']:.4f}", r["best_sampler"], f"{r['best_fd']:.2f}",
            f"{r['fd_vs_baseline']:.3f}", f"{r['recognisable']:.3f}", f"{r['recognisable_vs_real']:.3f}",
            f"{r['min_class_share']:.3f}", f"{r['nn_train_ratio']:.3f}", f"{r['knn_accuracy']:.3f}",
            f"{r['knn_cosine_accuracy']:.3f}"]


def table(rows: list[dict]) -> str:
    lines = ["| variant | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    ranked = sorted(rows, key=lambda r: (ORDER.get(r["variant"], len(ORDER)), r["variant"], -r["recognisable_vs_real"]))
    lines += [f"| {r['variant']} | " + " | ".join(cells(r)) + " |" for r in ranked]
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    print(table(rows), end="")


if __name__ == "__main__":
    main()
