"""Stage `fit@<variant>`: encode the test images (and refit the train images) against the frozen decoder."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__.split("\n")[0], variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.pipeline.fit import stage  # after the params check: a bad params file fails before torch loads

    line = stage(cfg, args.variant)
    if line:
        print(line)


if __name__ == "__main__":
    run(main)
