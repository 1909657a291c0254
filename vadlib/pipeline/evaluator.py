"""Stage `evaluator`: train the measuring instrument (vadlib/measure/evaluator.py) on images no variant trains on."""
from __future__ import annotations

from ..infra.config import Config
from ..infra.data import load_prepared
from ..infra.io import save_tensors, write_json
from ..infra.runtime import announce_device, describe, resolve_device, set_precision
from ..measure.evaluator import train_evaluator
from . import artifacts


def stage(cfg: Config) -> str:
    set_precision(cfg.precision)
    device = resolve_device(cfg.device)
    announce_device(cfg.device, device)
    model, metrics, seconds = train_evaluator(cfg.evaluator, load_prepared(artifacts.POOL_DATA),
                                              load_prepared(artifacts.FULL_TEST_DATA), cfg.seed, device)
    save_tensors(artifacts.EVALUATOR, model)
    write_json(artifacts.EVALUATOR_METRICS, metrics)
    artifacts.write_seconds("evaluator", "evaluator", seconds, describe(device))
    return (f"evaluator: test accuracy {metrics['test_accuracy']:.4f} (val {metrics['val_accuracy']:.4f}) after "
            f"{metrics['epochs']} epochs on {metrics['n_train']} images, {seconds:.0f} s on {describe(device)}")
