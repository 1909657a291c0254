"""The comparison report: all variants' metrics beside the original report's, with the figures embedded.

Sections 1-4 show one run (one seed) and judge nothing: differences between variants are judged over the seed study's
runs (reports/study.md), whose sentences the Answer quotes when they describe this run's configuration."""
from __future__ import annotations

import math

import yaml

from ..infra.config import Config
from ..infra.io import read_json
from ..infra.markdown import MISSING, table
from ..infra.markdown import fixed as _fmt
from ..measure.course import COURSE_REPORT as ORIGINAL
from ..measure.gate import NOT_A_COPY
from . import artifacts as paths

ONE_RUN = "not judged: one run (see [reports/study.md](study.md) for the seed-replicated comparison)"


def load_metrics(variants) -> dict[str, dict]:
    """Every variant's `metrics/variants/<variant>.json`, in params order."""
    return {name: read_json(paths.metrics(name)) for name in variants}


def metrics_table(all_metrics: dict[str, dict]) -> str:
    """One row per variant; the train-refit column only when `fit.refit_train` produced it."""
    refit = any("train_refit" in m for m in all_metrics.values())
    head = ["variant", "train course_loss", *(["train refit"] if refit else []), "test course_loss",
            "original train / test", "beats original test", "test MSE", "test PSNR (dB)", "test KL"]
    rows = []
    for name, m in all_metrics.items():
        orig = ORIGINAL.get(name)
        test = m["test"]["course_loss"]
        beats = MISSING if orig is None else ("yes" if test < orig[1] else "**no**")
        rows.append([name, _fmt(m["train"]["course_loss"]),
                     *([_fmt(m.get("train_refit", {}).get("course_loss"))] if refit else []), f"**{_fmt(test)}**",
                     MISSING if orig is None else f"{orig[0]:.4f} / {orig[1]:.4f}", beats,
                     _fmt(m["test"]["mse"], 5), _fmt(m["test"]["psnr"], 2), _fmt(m["test"].get("kl"), 2)])
    return "\n".join(table(head, rows))


def fit_sentence(fit) -> str:
    """How the test codes were found: the report names the start the run used."""
    start = ("the train code whose decode is nearest to the image in pixels (`fit.init: nearest`; no labels, no other "
             "test image)" if fit.init == "nearest" else "a random draw (`fit.init: random`, the course's start)")
    return (f"Test images are encoded without an encoder: a fresh code per image, optimised against the frozen "
            f"decoder from {start}, {fit.epochs} epochs at lr {fit.lr:g} ({fit.schedule}).")


def one_run(seed: int) -> str:
    """What sections 1-4 are: one run's figures, judged elsewhere."""
    return (f"These are one run's figures (seed {seed}), not judged here: differences between variants are judged "
            "over seeds in [study.md](study.md), at the study's own settings.")


def reconstruction_section(all_metrics: dict[str, dict], fit, seed: int) -> list[str]:
    tests = {n: m["test"]["course_loss"] for n, m in all_metrics.items()}
    best, worst = min(tests, key=tests.get), max(tests, key=tests.get)
    return [
        "## 1. Reconstruction: does the distribution change how well new images are encoded?", "",
        fit_sentence(fit), "",
        metrics_table(all_metrics), "", "![test loss comparison](../plots/images/comparison.png)", "",
        f"Best test course_loss: `{best}` {tests[best]:.4f}; worst: `{worst}` {tests[worst]:.4f}. "
        + one_run(seed), "",
        "Test originals (odd rows) and reconstructions (even rows):", "",
        *table(list(all_metrics), [[f"![{n}](../plots/images/{n}/reconstructions.png)" for n in all_metrics]]), "",
    ]


def passes_gate(row: dict | None) -> str:
    """yes / no: do a sampler's samples pass the no-copy gate (– when the run has no such sampler)?"""
    return MISSING if row is None else ("yes" if row["nn_train_ratio"] >= NOT_A_COPY else "no")


def samples_section(all_metrics: dict[str, dict], n_samples: int, seed: int) -> list[str]:
    first = next(iter(all_metrics.values()))
    samplers = [s for s in first["samples"] if s not in ("real", "reconstruction")]
    real = first["samples"]["real"]
    head = ["variant", "best sampler", *(f"FD {s}" for s in samplers), "FD recon.", "best: FD / baseline",
            f"recognisable (real {real['recognisable']:.3f})", "min class share", "precision / recall",
            "density / coverage", "nearest-train distance / real's: features (pixels)",
            "passes the no-copy gate: best / class_gmm"]
    cells_per_variant = []
    bests, recs = {}, {}
    for name, m in all_metrics.items():
        b, rows = m["best_sampler"], m["samples"]
        r = rows.get(b["name"])
        bests[name] = r["fd"] if r else None
        recs[name] = r["recognisable"] if r else None
        cells = [name, b["name"], *(_fmt(rows[s]["fd"], 2) for s in samplers), _fmt(rows["reconstruction"]["fd"], 2)]
        cells += [MISSING] * 6 if r is None else [
            _fmt(b["fd_vs_baseline"], 3), _fmt(r["recognisable"], 3), _fmt(r["min_class_share"], 3),
            f"{r['precision']:.3f} / {r['recall']:.3f}", f"{r['density']:.3f} / {r['coverage']:.3f}",
            f"{_fmt(r['nn_train_ratio'], 3)} ({_fmt(r['nn_train_pixel_ratio'], 3)})"]
        cells.append(f"{passes_gate(r)} / {passes_gate(rows.get('class_gmm'))}")
        cells_per_variant.append(cells)
    lines = table(head, cells_per_variant)
    scored = {n: v for n, v in bests.items() if v is not None}
    verdict = ""
    if scored:
        lo, hi = min(scored, key=scored.get), max(scored, key=scored.get)
        rec = {n: recs[n] for n in scored}
        rlo, rhi = min(rec, key=rec.get), max(rec, key=rec.get)
        verdict = (f"Lowest best-sampler FD: `{lo}` {scored[lo]:.2f}; highest: `{hi}` {scored[hi]:.2f}. "
                   f"Highest best-sampler recognisable rate: `{rhi}` {rec[rhi]:.3f}; lowest: `{rlo}` "
                   f"{rec[rlo]:.3f}. " + one_run(seed))
    grid = table(["variant", *samplers], ([name, *(f"![{name} {s}](../plots/images/{name}/samples/{s}.png)"
                                                   for s in samplers)] for name in all_metrics))
    return [
        "## 2. Samples: which distribution generates, and with which sampler?", "",
        "Scored in the evaluator network's feature space (`metrics/evaluator.json`) against the test images, "
        f"{n_samples} samples per sampler. FD: Frechet distance "
        "(torchmetrics), lower is better; real: held-out real images (the floor, "
        f"FD {real['fd']:.2f}); baseline: `prior` for a VAD, `gaussian` for the AD (the samplers before this study). "
        + ("`class_gmm` splits `gmm`'s components over one mixture per class of the training images (their labels, "
           "which the class initialisation uses too), so no component straddles two classes. "
           if "class_gmm" in samplers else "")
        + "The best sampler has the lowest FD against the held-out real images (so the test images it is scored on "
        "play no part in choosing it) among those whose samples are no copies: mean distance to the nearest "
        f"training image, in the evaluator's feature space, >= {NOT_A_COPY}x that of the real test images (the no-copy "
        "gate; its last column says whether the best sampler's and `class_gmm`'s samples pass). The pixel-space "
        "ratio is shown in brackets; it reads blur as closeness and marks even the decoded test reconstructions "
        f"as {_fmt(first['samples']['reconstruction']['nn_train_pixel_ratio'], 2)}x, so it is not the gate.", "",
        *lines, "", verdict, "", *grid, "",
    ]


def latent_section(all_metrics: dict[str, dict], seed: int) -> list[str]:
    head = ["variant", "5-NN probe", "5-NN, cosine", "logistic probe (standardised / as is)",
            "raw-pixel 5-NN (cosine)", "active units", "test KL"]
    rows = []
    for name, m in all_metrics.items():
        lat = m["latent"]
        rows.append([name, f"{lat['knn_accuracy']:.3f}", f"{lat['knn_cosine_accuracy']:.3f}",
                     f"{lat['logreg_accuracy']:.3f} / {_fmt(lat.get('logreg_unscaled_accuracy'), 3)}",
                     f"{lat['pixel_knn_accuracy']:.3f} ({lat['pixel_knn_cosine_accuracy']:.3f})",
                     str(lat["active_units"]), _fmt(m["test"].get("kl"), 1)])
    lines = table(head, rows)
    knn = {n: m["latent"]["knn_accuracy"] for n, m in all_metrics.items()}
    lo, hi = min(knn, key=knn.get), max(knn, key=knn.get)
    return [
        "## 3. Latent structure: do codes of one class lie together?", "",
        "Probes fit on the train codes (means of each image's distribution) and scored on the fitted test codes.", "",
        *lines, "",
        f"Best 5-NN probe: `{hi}` {knn[hi]:.3f}; lowest: `{lo}` {knn[lo]:.3f}. " + one_run(seed), "",
        *table(list(all_metrics), [[f"![{n} t-SNE](../plots/images/{n}/tsne.png)" for n in all_metrics]]), "",
        "Interpolations between test codes:", "",
        *(f"![{n} interpolations](../plots/images/{n}/interpolations.png)" for n in all_metrics), "",
    ]


IMPUTE_TITLES = {"random": "{ratio:.0%} of pixels dropped at random", "bottom_half": "bottom half hidden",
                 "right_half": "right half hidden", "centre_square": "centre 14x14 hidden"}


def load_imputation(variants) -> tuple[dict[str, dict], dict | None]:
    """Each variant's metrics/impute/<variant>.json and the baselines' (None where a stage has not written one)."""
    found = {n: read_json(paths.impute_metrics(n)) for n in variants if paths.impute_metrics(n).exists()}
    base = read_json(paths.IMPUTE_BASELINES) if paths.IMPUTE_BASELINES.exists() else None
    return found, base


def _condition_title(c: dict) -> str:
    return IMPUTE_TITLES.get(c["mask"], c["mask"]).format(ratio=c.get("ratio") or 0)


def imputation_section(imputed: dict[str, dict], baselines: dict | None, seed: int) -> list[str]:
    """Per condition: each variant's and baseline's MSE on the missing pixels and the class the evaluator still reads
    on the completed images; a VAD's 90% interval coverage and spread-error correlation. One run, judged elsewhere."""
    if not imputed:
        return []
    first = next(iter(imputed.values()))
    draws = next((m["samples"] for m in imputed.values() if m.get("samples")), None)
    lines = ["## 4. Imputation: encoding an image from part of its pixels", "",
             f"The first {first['n_images']} test images, each code fitted on the observed pixels only (decoder "
             "frozen, fit's recipe), decoded (`impute@<variant>`). *missing MSE*: on the hidden pixels ([0, 1] scale), "
             "lower is better; *class kept*: the evaluator's accuracy on the completed images (on the true images: "
             f"{first['accuracy_true']:.3f}); *90% coverage*: the share of hidden pixels inside a VAD's central 90% "
             f"interval over {draws} completions drawn from its fitted posterior (calibrated: 0.9; the AD "
             "has no posterior); *spread-error corr.*: the per-pixel correlation of that spread with the error. "
             "Baselines (`impute_baselines`): the k nearest train images on the observed pixels (scikit-learn) "
             "and the per-pixel train mean.", ""]
    head = ["imputed by", "missing MSE", "class kept", "90% coverage", "spread-error corr."]
    for key, cond in first["conditions"].items():
        rows = []
        for name, m in imputed.items():
            c = m["conditions"].get(key)
            if c is None:
                continue
            u = c.get("uncertainty") or {}
            rows.append([f"`{name}`", _fmt(c["missing"]["mse"], 4), _fmt(c["accuracy"], 3),
                         _fmt(u.get("coverage_90"), 3), _fmt(u.get("correlation"), 2)])
        for base in ("knn", "mean"):
            b = (baselines or {}).get("conditions", {}).get(key, {}).get(base)
            if b is not None:
                label = f"k-NN (k = {baselines['knn_k']})" if base == "knn" else "train mean"
                rows.append([label, _fmt(b["missing"]["mse"], 4), _fmt(b["accuracy"], 3), MISSING, MISSING])
        lines += [f"**{_condition_title(cond)}**", "", *table(head, rows), ""]
    lines += [one_run(seed) + " Which family imputes best and whether its intervals are calibrated, over seeds: "
              "[study.md](study.md#imputation-which-family-completes-images-best-and-is-its-uncertainty-calibrated).",
              "", "Missing-pixel error against the missing ratio: `dvc plots show` (plots/impute/). Completions:", "",
              *(f"![{n} imputation](../plots/images/{n}/imputation.png)" for n in imputed), ""]
    return lines


def describes(content: dict, betas: dict[str, float], seed: int, n_samples: int, test_loss: dict[str, float],
              rel: float = 0.01) -> bool:
    """Did the study run this configuration? True when the answer file was computed for these KL weights and draws
    per sampler, and for every variant holds this run's test course_loss at its `seed` (within `rel`: another CPU
    moves it in the 4th digit). A full-scale run, changed params or a stale table fail it, and their report must not
    borrow the study's seeds."""
    if not content or content.get("sentences") is None or content.get("n_samples") != n_samples:
        return False
    if {v: float(b) for v, b in content.get("betas", {}).items()} != {v: float(b) for v, b in betas.items()}:
        return False
    for variant in betas:
        value = content.get("test_course_loss", {}).get(variant, {}).get(str(seed))
        if value is None or not math.isclose(float(value), test_loss[variant], rel_tol=rel):
            return False
    return True


def answer_section(cfg: Config, all_metrics: dict[str, dict], study: dict | None = None) -> list[str]:
    """Where the study's answer file (`study`, reports/study/answer.json) describes this configuration (it holds this
    run's test losses at its seed), its sentences: every figure over the study's seeds, every pair judged. Otherwise
    one line per headline figure with this run's values, judged nowhere: one run cannot tell variants apart."""
    betas = {n: v.beta for n, v in cfg.variants.items() if n in all_metrics}
    own = {n: m["test"]["course_loss"] for n, m in all_metrics.items()}
    if study is not None and describes(study, betas, cfg.seed, cfg.quality.n_samples, own):
        said = [*study["sentences"], f"The sections below show this run alone (seed {cfg.seed}); every cell and pair, "
                "the no-copy gate per cell and the Uniform ablation: [study.md](study.md)."]
        return ["## Answer", "", *(f"- {s}" for s in said), ""]
    said = [f"{title}: " + ", ".join(f"`{n}` {v}" for n, v in values.items()) + f"; {ONE_RUN}."
            for title, values in run_figures(all_metrics).items() if values]
    return ["## Answer", "", f"This run (seed {cfg.seed}) is not one the seed study describes, so its figures stand "
            "alone:", "", *(f"- {s}" for s in said), ""]


def run_figures(all_metrics: dict[str, dict]) -> dict[str, dict[str, str]]:
    """This run's headline figures, formatted per variant (a figure a variant lacks is left out)."""
    def pick(get, digits):
        out = {}
        for name, m in all_metrics.items():
            try:
                value = get(m)
            except (KeyError, TypeError):
                continue
            if value is not None:
                out[name] = f"{value:.{digits}f}"
        return out
    return {"test course_loss": pick(lambda m: m["test"]["course_loss"], 4),
            "`class_gmm` FD": pick(lambda m: _gated(m, "fd"), 2),
            "`class_gmm` recognisable": pick(lambda m: _gated(m, "recognisable"), 3),
            "test KL (nats)": pick(lambda m: m["test"]["kl"], 1),
            "test KL above the family's floor (nats)": pick(lambda m: m["test"]["kl"] - m["test"]["kl_floor"], 1),
            "test bits/dim": pick(lambda m: m["test"]["bits_per_dim"], 4),
            "5-NN probe": pick(lambda m: m["latent"]["knn_accuracy"], 3)}


def _gated(m: dict, key: str):
    """`class_gmm`'s figure where its samples pass the no-copy gate, else None (not shown)."""
    row = m["samples"]["class_gmm"]
    return row[key] if row["nn_train_ratio"] >= NOT_A_COPY else None


def build_report(cfg: Config, all_metrics: dict[str, dict], evaluator: dict, study: dict | None = None) -> str:
    """Markdown with paths relative to reports/, one section per question the study asks (`study`: the content of
    reports/study/answer.json, for the answer)."""
    parts = [
        "# What does the latent distribution change? Auto-decoders on Fashion-MNIST", "",
        "Written by the `report` stage of `dvc repro` (wall times and devices: `metrics/seconds/`). "
        f"Data: {cfg.data.n_train} train / {cfg.data.n_test} test images ({cfg.data.subset} subset). "
        "`course_loss` is the course's measure (0-255 scale, batches of 64, ||x - x_rec||_F / (B*784), "
        "mean over batches); lower is better. *train* decodes the learned per-image parameters, *train refit* "
        "fits fresh parameters to the training images with the decoder frozen, *test* fits the test images the "
        "same way. Reconstructions decode each image's distribution mean. The evaluator network (the measuring "
        f"instrument for samples) reaches {evaluator['test_accuracy']:.4f} accuracy on the whole 10k test split.", "",
        *answer_section(cfg, all_metrics, study),
        *reconstruction_section(all_metrics, cfg.fit, cfg.seed),
        *samples_section(all_metrics, cfg.quality.n_samples, cfg.seed),
        *latent_section(all_metrics, cfg.seed),
        *imputation_section(*load_imputation(all_metrics), cfg.seed),
        "## 5. Rate-distortion: what does the KL weight trade?", "",
        "A beta sweep per distribution, run as queued DVC experiments, is a separate study (not part of the default "
        "`dvc repro`): `python scripts/study.py rate-distortion queue` runs it and `... report` writes "
        "`reports/rate_distortion.md` from `dvc exp show --json`.", "",
        "Training and fitting curves: `dvc plots show` (all variants overlaid).", "",
        "## Params used", "", "```yaml", yaml.safe_dump({k: v for k, v in cfg.to_dict().items() if k != "compare"}, sort_keys=False).rstrip(), "```", "",
    ]
    return "\n".join(parts)


def comparison_figure(all_metrics: dict[str, dict]):
    """Test course_loss of every variant beside the original report's."""
    from ..infra.figures import bar_comparison

    names = list(all_metrics)
    return bar_comparison(names, [all_metrics[n]["test"]["course_loss"] for n in names],
                          [ORIGINAL.get(n, (None, None))[1] for n in names], "test course_loss (lower is better)",
                          "Test reconstruction loss: this pipeline vs the original report")


def stage(cfg: Config) -> str:
    """The `report` stage: reports/report.md and the comparison figure."""
    from ..infra.figures import save_figure
    from ..infra.io import write_text

    all_metrics = load_metrics(cfg.variants)
    study = read_json(paths.STUDY_ANSWER) if paths.STUDY_ANSWER.exists() else None
    save_figure(comparison_figure(all_metrics), paths.COMPARISON_PNG)
    write_text(paths.REPORT, build_report(cfg, all_metrics, read_json(paths.EVALUATOR_METRICS), study))
    return f"report: wrote {paths.REPORT} and {paths.COMPARISON_PNG}"
