"""The comparison report: all variants' metrics beside the original report's, with the figures embedded."""
from __future__ import annotations

import json

import yaml

from ..infra import paths
from ..infra.config import Config
from ..infra.errors import VadlibError

# course_loss (train, test) from the original course report, for the side-by-side table
ORIGINAL = {"ad": (0.0252, 0.1186), "normal": (0.0186, 0.1112), "uniform": (0.1457, 0.1644),
            "laplace": (0.0204, 0.1118)}


def load_metrics(variants) -> dict[str, dict]:
    """Every variant's `metrics/<variant>.json`, in params order."""
    out = {}
    for name in variants:
        try:
            out[name] = json.loads(paths.metrics(name).read_text())
        except (OSError, ValueError) as exc:
            raise VadlibError(f"{paths.metrics(name)}: cannot read ({exc}); run `dvc repro evaluate@{name}`") from None
    return out


def _fmt(value, digits=4):
    return "–" if value is None else f"{value:.{digits}f}"


def metrics_table(all_metrics: dict[str, dict]) -> str:
    head = ("| variant | train course_loss | train refit | test course_loss | original train / test | "
            "beats original test | test MSE | test PSNR (dB) | test KL |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, m in all_metrics.items():
        orig = ORIGINAL.get(name)
        test = m["test"]["course_loss"]
        beats = "–" if orig is None else ("yes" if test < orig[1] else "**no**")
        lines.append(
            f"| {name} | {_fmt(m['train']['course_loss'])} | {_fmt(m.get('train_refit', {}).get('course_loss'))} | "
            f"**{_fmt(test)}** | {'–' if orig is None else f'{orig[0]:.4f} / {orig[1]:.4f}'} | {beats} | "
            f"{_fmt(m['test']['mse'], 5)} | {_fmt(m['test']['psnr'], 2)} | {_fmt(m['test'].get('kl'), 2)} |"
        )
    return "\n".join(lines)


def build_report(cfg: Config, all_metrics: dict[str, dict]) -> str:
    """Markdown with paths relative to reports/."""
    parts = [
        "# Auto-decoders on Fashion-MNIST: comparison report",
        "",
        "Written by the `report` stage of `dvc repro` (wall times and devices: `metrics/seconds/`). "
        f"Data: {cfg.data.n_train} train / {cfg.data.n_test} test images ({cfg.data.subset} subset). "
        "`course_loss` is the course's measure (0-255 scale, batches of 64, ||x - x_rec||_F / (B*784), "
        "mean over batches); lower is better. *train* decodes the learned per-image parameters, *train refit* "
        "fits fresh parameters to the training images with the decoder frozen, *test* fits the test images the "
        "same way. Reconstructions decode each image's distribution mean.",
        "",
        metrics_table(all_metrics),
        "",
        "![test loss comparison](../plots/images/comparison.png)",
        "",
        "Training and fitting curves: `dvc plots show` (all variants overlaid).",
        "",
    ]
    for name in all_metrics:
        parts += [
            f"## {name}",
            "",
            "Test originals (odd rows) and their reconstructions (even rows):",
            "",
            f"![{name} reconstructions](../plots/images/{name}/reconstructions.png)",
            "",
            f"![{name} samples](../plots/images/{name}/samples.png)",
            "",
            f"![{name} interpolations](../plots/images/{name}/interpolations.png)",
            "",
            f"![{name} t-SNE](../plots/images/{name}/tsne.png)",
            "",
        ]
    parts += ["## Params used", "", "```yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip(), "```", ""]
    return "\n".join(parts)


def comparison_figure(all_metrics: dict[str, dict]):
    """Test course_loss of every variant beside the original report's."""
    from ..infra.figures import bar_comparison

    names = list(all_metrics)
    return bar_comparison(names, [all_metrics[n]["test"]["course_loss"] for n in names],
                          [ORIGINAL.get(n, (None, None))[1] for n in names], "test course_loss (lower is better)",
                          "Test reconstruction loss: this pipeline vs the original report")
