"""Stage `train@<variant>`: learn the decoder and every training image's latent parameters."""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.infra.data import load_prepared
    from vadlib.infra.io import history_rows, save_tensors, write_csv, write_json
    from vadlib.infra.runtime import resolve_device
    from vadlib.workflows.train import finish, train_variant

    model, timing = train_variant(cfg, args.variant, load_prepared(paths.TRAIN_DATA), resolve_device(cfg.device),
                                  resume_path=paths.resume(args.variant))
    save_tensors(paths.model(args.variant), model)
    write_csv(paths.train_curve(args.variant), ["epoch", "loss", "rec", "kl"],
              history_rows(model["history"], ["loss", "rec", "kl"]))
    write_json(paths.seconds("train", args.variant), timing)
    finish(paths.resume(args.variant))
    h = model["history"]
    print(f"train/{args.variant}: final loss {h['loss'][-1]:.4f} after {len(h['loss'])} epochs, "
          f"{timing['train_seconds']:.0f} s on {timing['device']}")


if __name__ == "__main__":
    run(main)
