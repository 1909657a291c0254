"""Stage `impute_baselines`: k-nearest-neighbour and train-mean imputation on the masks of the impute stages."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__.split("\n")[0]).parse_args()
    cfg = load_params(args.params)

    from vadlib.pipeline.impute_baselines import stage  # after the params check

    line = stage(cfg)
    if line:
        print(line)


if __name__ == "__main__":
    run(main)
