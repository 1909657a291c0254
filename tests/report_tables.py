"""Read reports/report.md back and hold every number in its tables (and its headline sentences) against the metrics
files it was written from: a cell must equal the metrics value rounded to the digits it prints.

Each table column maps to the metrics key(s) it shows; a column with no mapping here fails the check, so a new column
cannot go unchecked.
"""
from __future__ import annotations

import re

# course_loss (train, test) of the original course report, copied from that report
ORIGINAL = {"ad": (0.0252, 0.1186), "normal": (0.0186, 0.1112), "uniform": (0.1457, 0.1644),
            "laplace": (0.0204, 0.1118)}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
DASH = "–"


def _best(m: dict) -> dict | None:
    return m["samples"].get(m["best_sampler"]["name"])


def _from_best(*keys):
    def get(m, name):
        row = _best(m)
        return [None] if row is None else [row[k] for k in keys]
    return get


def _passes(row) -> str:
    from vadlib.measure.generation import NOT_A_COPY

    return DASH if row is None else ("yes" if row["nn_train_ratio"] >= NOT_A_COPY else "no")


def _gate(m, name):
    return [f"{_passes(_best(m))} / {_passes(m['samples'].get('class_gmm'))}"]


def _original(m, name):
    return [None] if name not in ORIGINAL else list(ORIGINAL[name])


def _beats(m, name):
    if name not in ORIGINAL:
        return [None]
    return ["yes" if m["test"]["course_loss"] < ORIGINAL[name][1] else "no"]


# header (exact, or a regex for headers that carry a number) -> (metrics file, variant name) -> the cell's values
COLUMNS = {
    "variant": lambda m, name: [name],
    # reconstruction
    "train course_loss": lambda m, name: [m["train"]["course_loss"]],
    "train refit": lambda m, name: [m.get("train_refit", {}).get("course_loss")],
    "test course_loss": lambda m, name: [m["test"]["course_loss"]],
    "original train / test": _original,
    "beats original test": _beats,
    "test MSE": lambda m, name: [m["test"]["mse"]],
    "test PSNR (dB)": lambda m, name: [m["test"]["psnr"]],
    "test KL": lambda m, name: [m["test"].get("kl")],
    # samples
    "best sampler": lambda m, name: [m["best_sampler"]["name"]],
    "FD recon.": lambda m, name: [m["samples"]["reconstruction"]["fd"]],
    "best: FD / baseline": lambda m, name: [m["best_sampler"]["fd_vs_baseline"]],
    "min class share": _from_best("min_class_share"),
    "precision / recall": _from_best("precision", "recall"),
    "density / coverage": _from_best("density", "coverage"),
    "nearest-train distance / real's: features (pixels)": _from_best("nn_train_ratio", "nn_train_pixel_ratio"),
    "passes the no-copy gate: best / class_gmm": _gate,
    # latent
    "5-NN probe": lambda m, name: [m["latent"]["knn_accuracy"]],
    "5-NN, cosine": lambda m, name: [m["latent"]["knn_cosine_accuracy"]],
    "logistic probe (standardised / as is)": lambda m, name: [m["latent"]["logreg_accuracy"],
                                                            m["latent"].get("logreg_unscaled_accuracy")],
    "raw-pixel 5-NN (cosine)": lambda m, name: [m["latent"]["pixel_knn_accuracy"],
                                                m["latent"]["pixel_knn_cosine_accuracy"]],
    "active units": lambda m, name: [m["latent"]["active_units"]],
}
PATTERNS = {
    re.compile(r"FD (\w+)"): lambda sampler: lambda m, name: [m["samples"][sampler]["fd"]],
    re.compile(r"recognisable \(real [\d.]+\)"): lambda: _from_best("recognisable"),
}


def column(header: str):
    if header in COLUMNS:
        return COLUMNS[header]
    for pattern, make in PATTERNS.items():
        match = pattern.fullmatch(header)
        if match:
            return make(*match.groups())
    raise AssertionError(f"report column {header!r} maps to no metrics key (add it to tests/report_tables.py)")


def tables(report: str) -> list[list[list[str]]]:
    """Every markdown table of numbers (header first, the |---| rule dropped); the image grids are left out."""
    found, block = [], []
    for line in [*report.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            if block[0][0] == "variant" and not any("![" in cell for row in block[2:] for cell in row):
                assert set("".join(block[1])) <= {"-"}, f"table without a |---| rule: {block[:2]}"
                found.append([block[0], *block[2:]])
            block = []
    return found


def cell_values(cell: str) -> list:
    cell = cell.replace("**", "").strip()
    if cell == DASH:
        return [None]
    numbers = NUMBER.findall(cell)
    return numbers if numbers and NUMBER.sub("", cell).strip(" /()") == "" else [cell]


def assert_cell(cell: str, expected: list, where: str) -> None:
    shown = cell_values(cell)
    assert len(shown) == len(expected), f"{where}: {cell!r} shows {len(shown)} values, expected {expected}"
    for text, value in zip(shown, expected):
        if value is None or isinstance(value, str):
            assert text == value, f"{where}: {cell!r}, expected {value!r}"
            continue
        assert text is not None and NUMBER.fullmatch(text), f"{where}: {cell!r} is not a number, expected {value}"
        if isinstance(value, int) and not isinstance(value, bool):
            assert text == str(value), f"{where}: {text}, expected {value}"
            continue
        digits = len(text.partition(".")[2])
        assert abs(float(text) - value) <= 0.5 * 10 ** -digits * (1 + 1e-9), \
            f"{where}: {text} is not {value} at {digits} decimals"


def check_report(report: str, metrics: dict[str, dict], evaluator: dict) -> int:
    """Assert every table cell and headline number of `report` against `metrics` (variant -> metrics file) and
    `evaluator` (metrics/evaluator.json); returns how many cells were checked."""
    found = tables(report)
    assert len(found) == 3, f"expected the reconstruction, samples and latent tables, found {len(found)}"
    checked = 0
    for header, *rows in found:
        getters = [column(h) for h in header]
        assert [row[0] for row in rows] == list(metrics), f"rows {[row[0] for row in rows]} vs {list(metrics)}"
        for row in rows:
            assert len(row) == len(header), f"row {row[0]} has {len(row)} cells for {len(header)} columns"
            for h, get, cell in zip(header, getters, row):
                assert_cell(cell, get(metrics[row[0]], row[0]), f"{row[0]} / {h}")
                checked += 1
    check_sentences(report, metrics, evaluator)
    return checked


def _extremes(values: dict) -> tuple[str, str]:
    return min(values, key=values.get), max(values, key=values.get)


def check_sentences(report: str, metrics: dict[str, dict], evaluator: dict) -> None:
    first = next(iter(metrics.values()))

    def find(pattern):
        match = re.search(pattern.replace("NUM", NUMBER.pattern.join("()")), report)
        assert match, f"report has no sentence matching {pattern!r}"
        return match.groups()

    def same(text, value, where):
        assert_cell(text, [value], where)

    same(find(r"reaches NUM accuracy on the whole 10k test split")[0], evaluator["test_accuracy"], "evaluator")
    same(find(r"the floor, FD NUM\)")[0], first["samples"]["real"]["fd"], "real FD")
    same(find(r"recognisable \(real NUM\)")[0], first["samples"]["real"]["recognisable"], "real recognisable")
    same(find(r"reconstructions as NUMx")[0], first["samples"]["reconstruction"]["nn_train_pixel_ratio"],
         "reconstruction pixel ratio")
    def extremes(pattern, values, low_first, what):
        """A sentence naming two variants and their values: the lowest and highest of `values`, in its order."""
        lo, hi = _extremes(values)
        order = (lo, hi) if low_first else (hi, lo)
        first_name, first_value, second_name, second_value = find(pattern)
        assert (first_name, second_name) == order, f"{what}: {first_name}, {second_name}; metrics say {order}"
        same(first_value, values[order[0]], what)
        same(second_value, values[order[1]], what)

    extremes(r"Best test course_loss: `(\w+)` NUM; worst: `(\w+)` NUM",
             {n: m["test"]["course_loss"] for n, m in metrics.items()}, True, "best / worst test course_loss")
    extremes(r"Best 5-NN probe: `(\w+)` NUM; lowest: `(\w+)` NUM",
             {n: m["latent"]["knn_accuracy"] for n, m in metrics.items()}, False, "5-NN extremes")
    fds = {n: _best(m)["fd"] for n, m in metrics.items() if _best(m)}
    if fds:
        extremes(r"Lowest best-sampler FD: `(\w+)` NUM; highest: `(\w+)` NUM", fds, True, "best-sampler FD extremes")
