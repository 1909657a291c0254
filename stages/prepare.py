"""Stage `prepare`: verify Fashion-MNIST and write the train/test subsets to data/prepared/."""
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser("Verify Fashion-MNIST and write the train/test subsets.").parse_args()
    cfg = load_params(args.params)
    from vadlib.infra.data import prepare  # after the params check, so a bad file fails before the torch import

    m = prepare(cfg.data, cfg.seed)
    print(
        f"prepared {m['n_train']} train / {m['n_test']} test images ({m['subset']} subset, "
        f"seed {cfg.seed}) from {cfg.data.resolved_root} -> data/prepared/"
    )


if __name__ == "__main__":
    run(main)
