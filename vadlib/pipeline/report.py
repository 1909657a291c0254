"""The comparison report: all variants' metrics beside the original report's, with the figures embedded."""
from __future__ import annotations

import math

import yaml

from ..infra.config import Config
from ..infra.io import read_json
from ..infra.markdown import MISSING, table
from ..infra.markdown import fixed as _fmt
from ..measure.comparisons import std_upper_factor
from ..measure.course import COURSE_REPORT as ORIGINAL
from . import artifacts as paths


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


def judge(noise: dict | None, key: str, spread: float) -> str:
    """A spread between variants against the seed-to-seed std of one variant: "not measured", "within" (<= 3 std),
    "suggestive" (> 3 std but <= 3 x the std's 95% upper bound, which few seeds leave loose) or "beyond"."""
    if not noise or key not in noise.get("std", {}):
        return "not measured"
    std = noise["std"][key]
    if spread <= 3 * std:
        return "within"
    if len(noise["seeds"]) < 2 or spread > 3 * std * std_upper_factor(len(noise["seeds"])):
        return "beyond"
    return "suggestive"


def _noise_sentence(noise: dict | None, key: str, spread: float, what: str) -> str:
    """How a spread between variants compares with the seed-to-seed spread of one variant, in words."""
    verdict = judge(noise, key, spread)
    if verdict == "not measured":
        return f"Run-to-run noise of {what} is not measured; treat small differences as unproven."
    std = noise["std"][key]
    where = f" on {noise['device']}" if noise.get("device") else ""
    sentence = (f"The spread between variants ({spread:.4g}) is "
                f"{'within' if verdict == 'within' else 'larger than'} the run-to-run noise (3 x std; std {std:.2g} "
                f"over seeds {', '.join(map(str, noise['seeds']))} of `{noise['variant']}`{where}, `{noise['command']}`)")
    if verdict == "within" or len(noise["seeds"]) < 2:
        return sentence + "."
    upper = std * std_upper_factor(len(noise["seeds"]))
    if verdict == "beyond":
        return sentence + f", even against 3 x the std's 95% upper bound ({upper:.2g})."
    return (sentence + f", but not beyond 3 x the std's 95% upper bound ({upper:.2g}; {len(noise['seeds'])} seeds "
            "bound a std only loosely): suggestive, not settled.")


def fit_sentence(fit) -> str:
    """How the test codes were found: the report names the start the run used."""
    start = ("the train code whose decode is nearest to the image in pixels (`fit.init: nearest`; no labels, no other "
             "test image)" if fit.init == "nearest" else "a random draw (`fit.init: random`, the course's start)")
    return (f"Test images are encoded without an encoder: a fresh code per image, optimised against the frozen "
            f"decoder from {start}, {fit.epochs} epochs at lr {fit.lr:g} ({fit.schedule}).")


def reconstruction_section(all_metrics: dict[str, dict], noise: dict | None, fit) -> list[str]:
    tests = {n: m["test"]["course_loss"] for n, m in all_metrics.items()}
    best, worst = min(tests, key=tests.get), max(tests, key=tests.get)
    return [
        "## 1. Reconstruction: does the distribution change how well new images are encoded?", "",
        fit_sentence(fit), "",
        metrics_table(all_metrics), "", "![test loss comparison](../plots/images/comparison.png)", "",
        f"Best test course_loss: `{best}` {tests[best]:.4f}; worst: `{worst}` {tests[worst]:.4f}. "
        + _noise_sentence(noise, "test.course_loss", tests[worst] - tests[best], "test course_loss"), "",
        "Test originals (odd rows) and reconstructions (even rows):", "",
        *table(list(all_metrics), [[f"![{n}](../plots/images/{n}/reconstructions.png)" for n in all_metrics]]), "",
    ]


def samples_section(all_metrics: dict[str, dict], noise: dict | None, n_samples: int) -> list[str]:
    first = next(iter(all_metrics.values()))
    samplers = [s for s in first["samples"] if s not in ("real", "reconstruction")]
    real = first["samples"]["real"]
    head = ["variant", "best sampler", *(f"FD {s}" for s in samplers), "FD recon.", "best: FD / baseline",
            f"recognisable (real {real['recognisable']:.3f})", "min class share", "precision / recall",
            "density / coverage", "nearest-train distance / real's: features (pixels)"]
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
        cells_per_variant.append(cells)
    lines = table(head, cells_per_variant)
    scored = {n: v for n, v in bests.items() if v is not None}
    verdict = ""
    if scored:
        lo, hi = min(scored, key=scored.get), max(scored, key=scored.get)
        rec = {n: recs[n] for n in scored}
        rlo, rhi = min(rec, key=rec.get), max(rec, key=rec.get)
        verdict = (f"Lowest best-sampler FD: `{lo}` {scored[lo]:.2f}; highest: `{hi}` {scored[hi]:.2f}. "
                   + _noise_sentence(noise, "best_fd", scored[hi] - scored[lo], "the best-sampler FD")
                   + f" Highest best-sampler recognisable rate: `{rhi}` {rec[rhi]:.3f}; lowest: `{rlo}` "
                   f"{rec[rlo]:.3f}. "
                   + _noise_sentence(noise, "best_recognisable", rec[rhi] - rec[rlo],
                                     "the best sampler's recognisable rate"))
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
        "training image, in the evaluator's feature space, >= 0.9x that of the real test images. The pixel-space "
        "ratio is shown in brackets; it reads blur as closeness and marks even the decoded test reconstructions "
        f"as {_fmt(first['samples']['reconstruction']['nn_train_pixel_ratio'], 2)}x, so it is not the gate.", "",
        *lines, "", verdict, "", *grid, "",
    ]


def latent_section(all_metrics: dict[str, dict], noise: dict | None) -> list[str]:
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
        f"Best 5-NN probe: `{hi}` {knn[hi]:.3f}; lowest: `{lo}` {knn[lo]:.3f}. "
        + _noise_sentence(noise, "latent.knn_accuracy", knn[hi] - knn[lo], "the 5-NN probe accuracy"), "",
        *table(list(all_metrics), [[f"![{n} t-SNE](../plots/images/{n}/tsne.png)" for n in all_metrics]]), "",
        "Interpolations between test codes:", "",
        *(f"![{n} interpolations](../plots/images/{n}/interpolations.png)" for n in all_metrics), "",
    ]


IN_WORDS = {"within": "within the seed noise", "beyond": "beyond the seed noise",
            "suggestive": "beyond 3 seed stds but not beyond 3 x the std's 95% upper bound: suggestive, not settled",
            "not measured": "its seed noise is not measured"}


def _range(values: dict, digits: int) -> str:
    lo, hi = min(values.values()), max(values.values())
    return f"{lo:.{digits}f}" if round(lo, digits) == round(hi, digits) else f"{lo:.{digits}f} to {hi:.{digits}f}"


def _spread(values: dict) -> float:
    return max(values.values()) - min(values.values())


def _verdict(noise: dict | None, key: str, values: dict) -> str:
    spread = _spread(values)
    std = f"; seed std {noise['std'][key]:.2g}" if noise and key in noise.get("std", {}) else ""
    return f"a spread of {spread:.2g}, {IN_WORDS[judge(noise, key, spread)]}{std}"


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


def answer_section(cfg: Config, all_metrics: dict[str, dict], noise: dict | None, study: dict | None = None
                   ) -> list[str]:
    """3-6 generated sentences, each a measured effect and how it stands against the seed noise. Where the study's
    answer file (`study`, reports/study/answer.json) describes this configuration (it holds this run's test losses
    at its seed), its sentences are the answer: every figure as its mean ± std over the study's seeds, every pair of
    variants judged; otherwise this run's figures are judged against one variant's seed noise (`noise`)."""
    betas = {n: v.beta for n, v in cfg.variants.items() if n in all_metrics}
    own = {n: m["test"]["course_loss"] for n, m in all_metrics.items()}
    if study is not None and describes(study, betas, cfg.seed, cfg.quality.n_samples, own):
        said = [*study["sentences"], f"The sections below show this run alone (seed {cfg.seed}); every cell and pair, "
                "the paired bootstrap by test image and the Uniform ablation: [study.md](study.md)."]
        return ["## Answer", "", *(f"- {s}" for s in said), ""]
    vads = {n: m for n, m in all_metrics.items() if "kl" in m["test"]}
    others = {n: m for n, m in all_metrics.items() if n not in vads}
    test = {n: m["test"]["course_loss"] for n, m in all_metrics.items()}
    said = []
    if len(vads) > 1:
        vad_test = {n: test[n] for n in vads}
        line = (f"**Encoding new images:** the {len(vads)} VAD families reach test course_loss {_range(vad_test, 4)} "
                f"({_verdict(noise, 'test.course_loss', vad_test)})")
        mean = sum(vad_test.values()) / len(vad_test)
        for name in others:
            diff = test[name] - mean
            line += (f"; `{name}` reaches {test[name]:.4f}, {abs(diff):.2g} {'below' if diff < 0 else 'above'} "
                     f"their mean ({IN_WORDS[judge(noise, 'test.course_loss', abs(diff))]})")
        said.append(line + ".")
    else:
        said.append(f"**Encoding new images:** test course_loss {_range(test, 4)} "
                    f"({_verdict(noise, 'test.course_loss', test)}).")
    best = {n: m["samples"][m["best_sampler"]["name"]] for n, m in all_metrics.items()
            if m["best_sampler"]["name"] in m["samples"]}
    if best:
        fd = {n: r["fd"] for n, r in best.items()}
        rec = {n: r["recognisable"] for n, r in best.items()}
        names = sorted({all_metrics[n]["best_sampler"]["name"] for n in best})
        prior = {n: m["samples"]["prior"]["fd"] for n, m in vads.items() if "prior" in m["samples"]}
        lead = (f"drawn from N(0, I) the VADs' samples score FD {_range(prior, 1)}; " if prior else "")
        said.append(f"**Sampling:** {lead}the best sampler ({', '.join(f'`{s}`' for s in names)}) scores FD "
                    f"{_range(fd, 2)} across variants ({_verdict(noise, 'best_fd', fd)}), and its samples are "
                    f"recognisable at {_range(rec, 3)} (real images "
                    f"{next(iter(all_metrics.values()))['samples']['real']['recognisable']:.3f}; "
                    f"{_verdict(noise, 'best_recognisable', rec)}).")
    if vads:
        kl = {n: m["test"]["kl"] for n, m in vads.items()}
        nelbo = {n: m["test"]["nelbo"] for n, m in vads.items() if "nelbo" in m["test"]}
        line = f"**Rate:** the fitted test posteriors of the VADs carry {_range(kl, 1)} nats of KL to N(0, I)"
        if len(nelbo) == len(vads):
            line += f", and a test negative ELBO of {_range(nelbo, 1)} nats"
        said.append(line + " (seed noise not measured for these).")
    knn = {n: m["latent"]["knn_accuracy"] for n, m in all_metrics.items()}
    units = {n: m["latent"]["active_units"] for n, m in all_metrics.items()}
    pixels = next(iter(all_metrics.values()))["latent"]["pixel_knn_accuracy"]
    said.append(f"**Latent structure:** the 5-NN class probe reads {_range(knn, 3)} on the codes (raw pixels "
                f"{pixels:.3f}; {_verdict(noise, 'latent.knn_accuracy', knn)}); active units: "
                + ", ".join(f"`{n}` {u}" for n, u in units.items()) + ".")
    betas = sorted({v.beta for n, v in cfg.variants.items() if n in vads})
    said.append("All of this is one operating point (KL weight " + ", ".join(f"{b:g}" for b in betas)
                + "); across KL weights, with seeds for every cell: [study.md](study.md).")
    return ["## Answer", "", *(f"- {s}" for s in said), ""]


def build_report(cfg: Config, all_metrics: dict[str, dict], evaluator: dict, noise: dict | None = None,
                 study: dict | None = None) -> str:
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
        *answer_section(cfg, all_metrics, noise, study),
        *reconstruction_section(all_metrics, noise, cfg.fit),
        *samples_section(all_metrics, noise, cfg.quality.n_samples),
        *latent_section(all_metrics, noise),
        "## 4. Rate-distortion: what does the KL weight trade?", "",
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
    noise = read_json(paths.SEED_NOISE) if paths.SEED_NOISE.exists() else None
    study = read_json(paths.STUDY_ANSWER) if paths.STUDY_ANSWER.exists() else None
    save_figure(comparison_figure(all_metrics), paths.COMPARISON_PNG)
    write_text(paths.REPORT, build_report(cfg, all_metrics, read_json(paths.EVALUATOR_METRICS), noise, study))
    return f"report: wrote {paths.REPORT} and {paths.COMPARISON_PNG}"
