"""Stage `tsne@<variant>`: 2-D t-SNE of train and test latent means -> CSVs (DVC scatter) and a PNG."""
from vadlib import paths
from vadlib.cli import run, stage_parser
from vadlib.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.data import load_prepared
    from vadlib.distributions import get_distribution
    from vadlib.figures import save_figure, scatter_by_class
    from vadlib.io import load_tensors
    from vadlib.tables import write_csv
    from vadlib.tsne import embed

    checkpoint = load_tensors(paths.model(args.variant))
    dist = get_distribution(checkpoint["distribution"])
    codes = {"train": checkpoint["latents"], "test": load_tensors(paths.fitted(args.variant))["test"]}
    panels = []
    for split, data_path in (("train", paths.TRAIN_DATA), ("test", paths.TEST_DATA)):
        data = load_prepared(data_path)
        xy, labels, _ = embed(dist.mean(codes[split]), data["labels"], cfg.tsne, cfg.seed, f"{args.variant}/{split}")
        names = data["class_names"]
        write_csv(paths.tsne_csv(args.variant, split), ["x", "y", "class"],
                  [[float(a), float(b), names[c]] for (a, b), c in zip(xy, labels)])
        panels.append((f"{split} ({len(labels)} images)", xy, labels))
    save_figure(scatter_by_class(panels, names, f"t-SNE of {args.variant} latent means"), paths.tsne_png(args.variant))
    print(f"tsne/{args.variant}: wrote {paths.tsne_png(args.variant)}")


if __name__ == "__main__":
    run(main)
