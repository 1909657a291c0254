"""The comparison report: all variants' metrics beside the original report's, with the figures embedded."""
from __future__ import annotations

import yaml

from .config import Config

# course_loss (train, test) from the original course report, for the side-by-side table
ORIGINAL = {"ad": (0.0252, 0.1186), "normal": (0.0186, 0.1112), "uniform": (0.1457, 0.1644),
            "laplace": (0.0204, 0.1118)}


def _fmt(value, digits=4):
    return "–" if value is None else f"{value:.{digits}f}"


def metrics_table(all_metrics: dict[str, dict]) -> str:
    head = ("| variant | train course_loss | train refit | test course_loss | original train / test | "
            "beats original test | test MSE | test PSNR (dB) | test KL | train s | fit s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, m in all_metrics.items():
        orig = ORIGINAL.get(name)
        test = m["test"]["course_loss"]
        beats = "–" if orig is None else ("yes" if test < orig[1] else "**no**")
        lines.append(
            f"| {name} | {_fmt(m['train']['course_loss'])} | {_fmt(m.get('train_refit', {}).get('course_loss'))} | "
            f"**{_fmt(test)}** | {'–' if orig is None else f'{orig[0]:.4f} / {orig[1]:.4f}'} | {beats} | "
            f"{_fmt(m['test']['mse'], 5)} | {_fmt(m['test']['psnr'], 2)} | {_fmt(m['test'].get('kl'), 2)} | "
            f"{m['train_seconds']:.0f} | {m['fit_seconds']:.0f} |"
        )
    return "\n".join(lines)


def build_report(cfg: Config, all_metrics: dict[str, dict], device: str) -> str:
    """Markdown with paths relative to reports/."""
    parts = [
        "# Auto-decoders on Fashion-MNIST: comparison report",
        "",
        f"Written by the `report` stage of `dvc repro` (device: {device}). "
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
