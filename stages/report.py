"""Stage `report`: every variant's metrics beside the original report's, a comparison figure, reports/report.md."""
import json

from vadlib import paths
from vadlib.cli import run, stage_parser
from vadlib.config import load_params


def main() -> None:
    args = stage_parser(__doc__).parse_args()
    cfg = load_params(args.params)

    from vadlib.errors import VadlibError
    from vadlib.figures import bar_comparison, save_figure
    from vadlib.io import write_text
    from vadlib.pipeline import check_report_inputs
    from vadlib.report import ORIGINAL, build_report

    check_report_inputs(cfg)

    all_metrics = {}
    for name in cfg.variants:
        try:
            all_metrics[name] = json.loads(paths.metrics(name).read_text())
        except (OSError, ValueError) as exc:
            raise VadlibError(f"{paths.metrics(name)}: cannot read ({exc}); run `dvc repro evaluate@{name}`") from None
    names = list(all_metrics)
    save_figure(bar_comparison(names, [all_metrics[n]["test"]["course_loss"] for n in names],
                               [ORIGINAL.get(n, (None, None))[1] for n in names], "test course_loss (lower is better)",
                               "Test reconstruction loss: this pipeline vs the original report"), paths.COMPARISON_PNG)
    devices = sorted({m["device"] for m in all_metrics.values()})
    write_text(paths.REPORT, build_report(cfg, all_metrics, ", ".join(devices)))
    print(f"report: wrote {paths.REPORT} and {paths.COMPARISON_PNG}")


if __name__ == "__main__":
    run(main)
