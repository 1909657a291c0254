"""Stage `render@<variant>`: reconstruction, random-sample and interpolation grids (PNG)."""
from vadlib import paths
from vadlib.cli import run, stage_parser
from vadlib.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.checkpoint import load_trained
    from vadlib.data import load_prepared
    from vadlib.device import resolve_device
    from vadlib.figures import image_grid, save_figure
    from vadlib.io import load_tensors
    from vadlib.render import render_all

    trained = load_trained(paths.model(args.variant), resolve_device(cfg.device))
    dist = trained.dist
    grids = render_all(trained.decoder, dist, load_tensors(paths.fitted(args.variant))["test"],
                       load_prepared(paths.TEST_DATA), dist.mean(trained.checkpoint["latents"]), cfg.render, cfg.seed,
                       args.variant)
    v = args.variant
    save_figure(image_grid(grids["reconstructions"], f"{v}: test originals (odd rows) vs decoded fitted latents"),
                paths.grid_png(v, "reconstructions"))
    prior = "Gaussian fitted to the train codes" if dist.is_point else "N(0, I)"
    save_figure(image_grid(grids["samples"], f"{v}: decoded random samples from {prior}"), paths.grid_png(v, "samples"))
    save_figure(image_grid(grids["interpolations"], f"{v}: test image A, {cfg.render.interp_steps} evenly spaced "
                           "decodes from z_A to z_B, test image B", grids["interpolation_labels"]),
                paths.grid_png(v, "interpolations"))
    print(f"render/{v}: wrote {paths.grid_png(v, '*')}")


if __name__ == "__main__":
    run(main)
