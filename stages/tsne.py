"""Stage `tsne@<variant>`: 2-D t-SNE of train and test latent means -> CSVs (DVC scatter) and a PNG."""
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
    from vadlib.infra.io import write_csv, write_seconds
    from vadlib.infra.runtime import announce_device, resolve_device
    from vadlib.workflows.checkpoint import load_fitted, load_trained
    from vadlib.workflows.tsne import embed_splits

    device = resolve_device("cpu")  # scikit-learn's t-SNE runs on the CPU
    announce_device("cpu", device)
    trained = load_trained(paths.model(args.variant), device)
    params = {"train": trained.train_params, "test": load_fitted(paths.fitted(args.variant))["test"]}
    data = {"train": load_prepared(paths.TRAIN_DATA), "test": load_prepared(paths.TEST_DATA)}
    tables, figure = embed_splits(trained.dist, params, data, cfg.tsne, cfg.seed, args.variant)
    for split, rows in tables.items():
        write_csv(paths.tsne_csv(args.variant, split), ["x", "y", "class"], rows)
    save_figure(figure, paths.tsne_png(args.variant))
    write_seconds("tsne", args.variant, time.perf_counter() - start, "cpu (scikit-learn)")
    print(f"tsne/{args.variant}: wrote {paths.tsne_png(args.variant)}")


if __name__ == "__main__":
    run(main)
