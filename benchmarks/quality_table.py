"""Turn `quality_sweep.sh`'s JSON lines (scripts/evaluate_one.py output) into one markdown table, ranked per variant.

    python benchmarks/quality_table.py benchmarks/gpu/quality_sweep.jsonl > benchmarks/gpu/quality_sweep.md

A row passes issue 11's sample targets when its best sampler is no copier (the evaluate stage's gate), reaches
>= 0.85 of the real images' recognisable rate with every class >= 5%, and its test course_loss stays <= 0.100.
"""
from __future__ import annotations

import json
import sys

COLUMNS = ("settings", "T", "test course_loss", "train", "best sampler", "FD", "FD / baseline", "recognisable",
           "vs real", "min class", "nearest-train ratio", "5-NN", "5-NN cosine", "meets 11's sample targets")


def passes(r: dict) -> bool:
    return (r["best_sampler"] != "none" and r["recognisable_vs_real"] >= 0.85 and r["min_class_share"] >= 0.05
            and r["test_course_loss"] <= 0.100)


def cells(r: dict) -> list[str]:
    return [" ".join(f"`{s}`" for s in r["settings"]) or "(defaults)", f"{r['temperature']:g}",
            f"{r['test_course_loss']:.4f}", f"{r['train_course_loss']:.4f}", r["best_sampler"], f"{r['best_fd']:.2f}",
            f"{r['fd_vs_baseline']:.3f}", f"{r['recognisable']:.3f}", f"{r['recognisable_vs_real']:.3f}",
            f"{r['min_class_share']:.3f}", f"{r['nn_train_ratio']:.3f}", f"{r['knn_accuracy']:.3f}",
            f"{r['knn_cosine_accuracy']:.3f}", "yes" if passes(r) else "no"]


def main() -> None:
    rows = [json.loads(line) for path in sys.argv[1:] for line in open(path) if line.strip()]
    print("| variant | " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * (len(COLUMNS) + 1))
    order = {"ad": 0, "normal": 1, "uniform": 2, "laplace": 3}
    for r in sorted(rows, key=lambda r: (order.get(r["variant"], 9), -r["recognisable_vs_real"])):
        print(f"| {r['variant']} | " + " | ".join(cells(r)) + " |")


if __name__ == "__main__":
    main()
