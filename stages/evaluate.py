"""Stage `evaluate@<variant>`: reconstruction, latent and sample quality -> metrics/variants/<variant>.json."""
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
    from vadlib.infra.io import write_csv, write_json, write_seconds
    from vadlib.infra.runtime import announce_device, describe, resolve_device
    from vadlib.workflows.checkpoint import load_fitted, load_trained
    from vadlib.workflows.evaluate import PER_IMAGE_COLUMNS, evaluate_variant, per_image_path
    from vadlib.workflows.evaluator import held_out_images, load_evaluator

    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    trained = load_trained(paths.model(args.variant), device)
    evaluator, val_rows = load_evaluator(paths.EVALUATOR, device)
    held_out = held_out_images(load_prepared(paths.POOL_DATA), val_rows)
    per_image: dict = {}
    metrics = evaluate_variant(trained, load_fitted(paths.fitted(args.variant)), load_prepared(paths.TRAIN_DATA),
                               load_prepared(paths.TEST_DATA), held_out, evaluator, cfg, args.variant, per_image)
    write_json(paths.metrics(args.variant), metrics)
    write_csv(per_image_path(args.variant), PER_IMAGE_COLUMNS, zip(*(per_image[c] for c in PER_IMAGE_COLUMNS)))
    write_seconds("evaluate", args.variant, time.perf_counter() - start, describe(device))
    best = metrics["best_sampler"]
    print(f"evaluate/{args.variant}: course_loss train {metrics['train']['course_loss']:.4f}, "
          f"test {metrics['test']['course_loss']:.4f}; best sampler {best['name']} "
          f"(FD {metrics['samples'].get(best['name'], {}).get('fd', float('nan')):.2f})")


if __name__ == "__main__":
    run(main)
