"""Stage `fit@<variant>`: encode the test images (and refit the train images) against the frozen decoder."""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    variant = cfg.variant(args.variant)

    from vadlib.infra.data import load_prepared
    from vadlib.infra.io import save_tensors, write_csv, write_seconds
    from vadlib.infra.runtime import announce_device, describe, resolve_device, set_precision
    from vadlib.workflows.checkpoint import load_trained
    from vadlib.workflows.fit import fit_splits

    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    set_precision(cfg.precision)
    trained = load_trained(paths.model(args.variant), device)
    splits = {"test": load_prepared(paths.TEST_DATA)}
    if cfg.fit.refit_train:
        splits["train_refit"] = load_prepared(paths.TRAIN_DATA)
    fitted, header, rows, seconds = fit_splits(trained.decoder, variant, cfg.fit, splits, cfg.seed, args.variant,
                                               train_params=trained.train_params)
    save_tensors(paths.fitted(args.variant), fitted)
    write_csv(paths.fit_curve(args.variant), header, rows)
    write_seconds("fit", args.variant, seconds, describe(device))
    print(f"fit/{args.variant}: " + ", ".join(f"{k} loss {fitted['history'][k]['loss'][-1]:.4f}" for k in splits)
          + f" in {seconds:.0f} s")


if __name__ == "__main__":
    run(main)
