"""Stage `train@<variant>`: learn the decoder and every training image's latent parameters.

Also runs as one rank of a torchrun launch (see vadlib/infra/distributed.py); then only rank 0 writes outputs.
"""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.infra.data import load_prepared
    from vadlib.infra.distributed import SINGLE, close_world, init_world, launched
    from vadlib.infra.io import history_rows, save_tensors, write_csv, write_seconds
    from vadlib.infra.runtime import announce_device, describe, resolve_device, set_precision
    from vadlib.workflows.train import finish, train_variant

    set_precision(cfg.precision)
    world, device = init_world(cfg.device) if launched() else (SINGLE, resolve_device(cfg.device))
    if world.is_main:
        announce_device(cfg.device, device)
    try:
        model, seconds = train_variant(cfg, args.variant, load_prepared(paths.TRAIN_DATA), device,
                                       resume_path=paths.resume(args.variant), world=world)
        if model is not None:
            save_tensors(paths.model(args.variant), model)
            write_csv(paths.train_curve(args.variant), ["epoch", "loss", "rec", "kl"],
                      history_rows(model["history"], ["loss", "rec", "kl"]))
            write_seconds("train", args.variant, seconds, describe(device))
            h = model["history"]
            print(f"train/{args.variant}: final loss {h['loss'][-1]:.4f} after {len(h['loss'])} epochs, "
                  f"{seconds:.0f} s on {describe(device)}"
                  + (f" x {world.size} processes" if world.size > 1 else ""))
        finish(paths.resume(args.variant), world)
    finally:
        close_world()


if __name__ == "__main__":
    run(main)
