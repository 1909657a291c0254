"""Stage `compare`: mirror the variant named by params' `compare` to metrics/selected.json and plots/selected/."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__).parse_args()
    cfg = load_params(args.params)

    from vadlib.workflows.compare import select_variant

    select_variant(cfg.compare, cfg.variants)
    print(f"compare: metrics/selected.json and plots/selected/ now show {cfg.compare}")


if __name__ == "__main__":
    run(main)
