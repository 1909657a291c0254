"""Stage `evaluator`: train the measuring instrument, a small classifier on images no variant trains on."""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__).parse_args()
    cfg = load_params(args.params)

    from vadlib.infra.data import load_prepared
    from vadlib.infra.io import save_tensors, write_json, write_seconds
    from vadlib.infra.runtime import announce_device, describe, resolve_device, set_precision
    from vadlib.workflows.evaluator import train_evaluator

    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    model, metrics, seconds = train_evaluator(cfg.evaluator, load_prepared(paths.POOL_DATA),
                                              load_prepared(paths.FULL_TEST_DATA), cfg.seed, device)
    save_tensors(paths.EVALUATOR, model)
    write_json(paths.EVALUATOR_METRICS, metrics)
    write_seconds("evaluator", "evaluator", seconds, describe(device))
    print(f"evaluator: test accuracy {metrics['test_accuracy']:.4f} (val {metrics['val_accuracy']:.4f}) after "
          f"{metrics['epochs']} epochs on {metrics['n_train']} images, "
          f"{seconds:.0f} s on {describe(device)}")


if __name__ == "__main__":
    run(main)
