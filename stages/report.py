"""Stage `report`: one section per question (reconstruction, samples, latent structure, rate-distortion)."""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__).parse_args()
    cfg = load_params(args.params)

    from vadlib.infra.figures import save_figure
    from vadlib.infra.io import read_json, write_text
    from vadlib.workflows.report import build_report, comparison_figure, load_metrics
    from vadlib.workflows.study_stats import load_table

    all_metrics = load_metrics(cfg.variants)
    noise = read_json(paths.SEED_NOISE) if paths.SEED_NOISE.exists() else None
    save_figure(comparison_figure(all_metrics), paths.COMPARISON_PNG)
    study = load_table(paths.STUDY_TABLE) if paths.STUDY_TABLE.exists() else None
    write_text(paths.REPORT, build_report(cfg, all_metrics, read_json(paths.EVALUATOR_METRICS), noise, study))
    print(f"report: wrote {paths.REPORT} and {paths.COMPARISON_PNG}")


if __name__ == "__main__":
    run(main)
