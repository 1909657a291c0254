"""Stage `train@<variant>`: learn the decoder and every training image's latent parameters."""
from vadlib import paths
from vadlib.cli import run, stage_parser
from vadlib.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.data import load_prepared
    from vadlib.device import resolve_device
    from vadlib.io import save_tensors
    from vadlib.tables import history_rows, write_csv
    from vadlib.train import finish, train_variant

    checkpoint = train_variant(cfg, args.variant, load_prepared(paths.TRAIN_DATA), resolve_device(cfg.device),
                               resume_path=paths.resume(args.variant))
    save_tensors(paths.model(args.variant), checkpoint)
    write_csv(paths.train_curve(args.variant), ["epoch", "loss", "rec", "kl"],
              history_rows(checkpoint["history"], ["loss", "rec", "kl"]))
    finish(paths.resume(args.variant))
    h = checkpoint["history"]
    print(f"train/{args.variant}: final loss {h['loss'][-1]:.4f} after {len(h['loss'])} epochs, "
          f"{checkpoint['train_seconds']:.0f} s on {checkpoint['device']}")


if __name__ == "__main__":
    run(main)
