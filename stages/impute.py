"""Stage `impute@<variant>`: fill missing pixels from codes fitted on the observed ones (decoder frozen)."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__.split("\n")[0], variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.pipeline.impute import stage  # after the params check: a bad params file fails before torch loads

    line = stage(cfg, args.variant)
    if line:
        print(line)


if __name__ == "__main__":
    run(main)
