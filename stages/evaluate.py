"""Stage `evaluate@<variant>`: reconstruction metrics for train, train refit and test -> metrics/<variant>.json."""
from vadlib.infra import paths
from vadlib.infra.cli import run, stage_parser
from vadlib.infra.config import load_params


def main() -> None:
    args = stage_parser(__doc__, variant=True).parse_args()
    cfg = load_params(args.params)
    cfg.variant(args.variant)

    from vadlib.workflows.checkpoint import load_trained
    from vadlib.infra.data import load_prepared
    from vadlib.infra.runtime import resolve_device
    from vadlib.workflows.evaluate import evaluate_variant
    from vadlib.infra.io import load_tensors, write_json

    trained = load_trained(paths.model(args.variant), resolve_device(cfg.device))
    metrics = evaluate_variant(trained.decoder, trained.checkpoint, load_tensors(paths.fitted(args.variant)),
                               load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA), cfg.evaluate.batch_size)
    write_json(paths.metrics(args.variant), metrics)
    print(f"evaluate/{args.variant}: course_loss train {metrics['train']['course_loss']:.4f}, "
          f"test {metrics['test']['course_loss']:.4f}")


if __name__ == "__main__":
    run(main)
