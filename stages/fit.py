"""Stage `fit@<variant>`: encode the test images (and refit the train images) against the frozen decoder."""
from vadlib import paths
from vadlib.cli import run, stage_parser
from vadlib.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    variant = cfg.variant(args.variant)

    from vadlib.checkpoint import load_trained
    from vadlib.data import load_prepared
    from vadlib.device import resolve_device
    from vadlib.fit import fit_splits
    from vadlib.io import save_tensors
    from vadlib.tables import write_csv

    decoder = load_trained(paths.model(args.variant), resolve_device(cfg.device)).decoder
    splits = {"test": load_prepared(paths.TEST_DATA)}
    if cfg.fit.refit_train:
        splits["train_refit"] = load_prepared(paths.TRAIN_DATA)
    fitted, header, rows = fit_splits(decoder, variant, cfg.fit, splits, cfg.seed, args.variant)
    save_tensors(paths.fitted(args.variant), fitted)
    write_csv(paths.fit_curve(args.variant), header, rows)
    print(f"fit/{args.variant}: " + ", ".join(f"{k} loss {fitted['history'][k]['loss'][-1]:.4f}" for k in splits)
          + f" in {fitted['fit_seconds']:.0f} s")


if __name__ == "__main__":
    run(main)
