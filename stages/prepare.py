"""Stage `prepare`: verify Fashion-MNIST and write the train/test subsets to data/prepared/."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__.split("\n")[0]).parse_args()
    cfg = load_params(args.params)

    from vadlib.pipeline.prepare import stage  # after the params check: a bad params file fails before torch loads

    line = stage(cfg)
    if line:
        print(line)


if __name__ == "__main__":
    run(main)
