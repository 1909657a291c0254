"""Stage `render@<variant>`: reconstruction, random-sample and interpolation grids (PNG)."""
import time

from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    start = time.perf_counter()
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.infra.data import load_prepared
    from vadlib.infra.figures import save_figure
    from vadlib.infra.io import write_seconds
    from vadlib.infra.runtime import announce_device, describe, resolve_device
    from vadlib.workflows.checkpoint import load_fitted, load_trained
    from vadlib.workflows.render import render_figures

    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    trained = load_trained(paths.model(args.variant), device)
    figures = render_figures(trained, load_fitted(paths.fitted(args.variant))["test"], load_prepared(paths.TEST_DATA),
                             cfg, args.variant)
    for name, figure in figures.items():
        save_figure(figure, paths.grid_png(args.variant, name))
    write_seconds("render", args.variant, time.perf_counter() - start, describe(device))
    print(f"render/{args.variant}: wrote {', '.join(str(paths.grid_png(args.variant, n)) for n in figures)}")


if __name__ == "__main__":
    run(main)
