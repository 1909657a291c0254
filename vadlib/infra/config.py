"""The params.yaml schema: typed sections grouped by stage, validated in full before any work starts.

The defaults here equal the shipped params.yaml (a test keeps them equal), so a partial params mapping in a test or
a script means the same thing as the file.

Each field carries its allowed range or choices in `metadata`; `load_params` walks the schema once and
reports every problem on its own line ("train.epochs: got -3, expected an integer >= 1"), so a user
fixes a hand-edited file in one go.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

DATA_ROOT_ENV = "VADLIB_DATA_ROOT"
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:[0-9]+)?")  # what params' `device` may say


def _num(default, lo=None, hi=None, lo_open=False, hi_open=False):
    return field(default=default, metadata={"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open})


PRECISIONS = ("float32", "tf32", "bf16")  # the training loops' arithmetic; infra/runtime.py applies them


def _choice(default, *choices):
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class DataConfig:
    root: str = "../shared/data/fashion-mnist"
    download: bool = True
    verify_md5: bool = True
    n_train: int = _num(1000, 1, 60000)
    n_test: int = _num(1000, 1, 10000)
    # validation images for every choice (recipes, samplers, margins): the first n_val test-split images, in file
    # order, that the test subset does not hold; no model, fit or evaluator ever trains on them, no report scores them
    n_val: int = _num(1000, 0, 9999)
    subset: str = _choice("first", "first", "stratified")
    # the evaluator's pool: unused (train-split images no variant trains on) | all (the whole train split, for an
    # n_train near 60000 where none are unused; the instrument has then seen the models' images, as Inception has)
    evaluator_pool: str = _choice("unused", "unused", "all")

    @property
    def resolved_root(self) -> Path:
        """The environment variable wins over params, so one checkout can point at any data folder."""
        return Path(os.environ.get(DATA_ROOT_ENV) or self.root).expanduser()


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = _num(100, 1, 4096)
    channels: tuple[int, int] = (128, 64)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _num(200, 1, 100000)
    batch_size: int = _num(64, 1, 65536)
    lr_decoder: float = _num(1e-3, 0.0, 10.0, lo_open=True)
    lr_latent: float = _num(0.5, 0.0, 100.0, lo_open=True)
    weight_decay: float = _num(2.0, 0.0, 10.0)
    schedule: str = _choice("cosine", "constant", "cosine")
    warmup_epochs: int = _num(0, 0, 100000)
    # sparse_adam: only the batch's rows move (their moments too); adam: dense Adam, every row's moments decay and
    # rows keep moving between their batches (the original course recipe's optimiser, for the Uniform ablation)
    latent_optimizer: str = _choice("sparse_adam", "sparse_adam", "adam")
    checkpoint_every: int = _num(10, 0, 100000)
    checkpoint_min_seconds: float = _num(0.0, 0.0, 1e6)  # skip a due checkpoint until this long after the last


@dataclass(frozen=True)
class FitConfig:
    init: str = _choice("nearest", "random", "nearest")
    epochs: int = _num(100, 1, 100000)
    batch_size: int = _num(128, 1, 65536)
    lr: float = _num(0.2, 0.0, 100.0, lo_open=True)
    schedule: str = _choice("cosine", "constant", "cosine")
    optimizer: str = _choice("sparse_adam", "sparse_adam", "adam")  # as train.latent_optimizer, for the fitted codes
    refit_train: bool = False


@dataclass(frozen=True)
class EvaluateConfig:
    batch_size: int = _num(64, 1, 65536)
    likelihood_images: int = _num(50, 1, 100000)  # the first N test images get an importance-sampled log p(x)
    likelihood_samples: int = _num(1000, 1, 1000000)  # K draws per image from its proposal
    likelihood_proposal_steps: int = _num(800, 0, 100000)  # Adam steps fitting each image's proposal to its posterior


@dataclass(frozen=True)
class ImputeConfig:
    """Missing-pixel imputation (the `impute` stages): codes fitted on the observed pixels of the first `n_images` test
    images, for random pixel dropout at each of `ratios` and each structured mask in `masks` (names checked where
    they are resolved, vadlib/measure/imputation.py, so reading params needs no torch)."""
    n_images: int = _num(200, 1, 10000)
    ratios: tuple[float, ...] = _num((0.5,), 0.0, 1.0, hi_open=True)  # missing share of each image's pixels
    masks: tuple[str, ...] = ("bottom_half", "centre_square")
    samples: int = _num(20, 2, 10000)  # a VAD's completions per image (draws from its fitted posterior)
    knn_k: int = _num(5, 1, 1000)  # the k-nearest-neighbour baseline's neighbours


@dataclass(frozen=True)
class TsneConfig:
    perplexity: float = _num(30.0, 1.0, 1000.0)
    n_points: int = _num(1000, 10, 70000)
    max_iter: int = _num(1000, 250, 100000)


@dataclass(frozen=True)
class RenderConfig:
    n_images: int = _num(10, 1, 100)
    n_samples: int = _num(50, 1, 1000)
    interp_steps: int = _num(5, 2, 50)
    interp_pairs: int = _num(4, 1, 50)


@dataclass(frozen=True)
class EvaluatorConfig:
    """The measuring instrument: a small CNN classifier trained on train-split images no variant trains on."""
    epochs: int = _num(6, 1, 1000)
    batch_size: int = _num(128, 1, 65536)
    lr: float = _num(2e-3, 0.0, 10.0, lo_open=True)
    n_val: int = _num(5000, 100, 50000)  # held out: evaluator validation and the real-vs-real reference row


@dataclass(frozen=True)
class SamplersConfig:
    """How new codes are drawn (vadlib/core/samplers.py); `gmm` is ex-post density estimation (RAE)."""
    temperature: float = _num(1.0, 0.0, 10.0, lo_open=True)
    gmm_components: int = _num(100, 1, 1000)
    gmm_covariance: str = _choice("full", "full", "tied", "diag", "spherical")
    gmm_reg_covar: float = _num(1e-4, 0.0, 1e3, lo_open=True)
    gmm_pca_dim: int = _num(0, 0, 4096)  # 0: the full latent space; k: the top-k principal components


@dataclass(frozen=True)
class QualityConfig:
    """Sample and latent quality, measured in the evaluator's feature space."""
    n_samples: int = _num(5000, 10, 100000)  # per sampler; PRDC uses the first min(n_samples, n_test) of them
    nearest_k: int = _num(5, 1, 100)  # precision/recall/density/coverage and the k-NN probe
    confidence: float = _num(0.9, 0.0, 1.0, lo_open=True)  # "recognisable": evaluator confidence at least this
    active_threshold: float = _num(0.01, 0.0, 1e6)  # a latent unit is active if its code means' variance exceeds
    # this fraction of the mean variance of a unit (relative: the AD's code scale is arbitrary)


@dataclass(frozen=True)
class VariantConfig:
    # a name in vadlib/core/distributions.py's registry, checked where it is resolved (`get_distribution`), so that
    # reading params imports no torch and editing a distribution leaves the stages that do not use one up to date
    distribution: str = "normal"
    beta: float = _num(1.0, 0.0, 1e6)
    init: str = _choice("class", "class", "random")
    init_scale: float = _num(1.0, 0.0, 1e3)
    init_width: float = _num(0.1, 0.0, 1e3, lo_open=True)


@dataclass(frozen=True)
class Config:
    seed: int = _num(0, 0, 2**31 - 1)
    device: str = "auto"
    precision: str = _choice("float32", *PRECISIONS)
    compare: str = "normal"  # the variant the `compare` stage mirrors to metrics/selected.json (see README)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    fit: FitConfig = FitConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    impute: ImputeConfig = ImputeConfig()
    tsne: TsneConfig = TsneConfig()
    render: RenderConfig = RenderConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    samplers: SamplersConfig = SamplersConfig()
    quality: QualityConfig = QualityConfig()
    variants: dict[str, VariantConfig] = field(default_factory=dict)

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            known = ", ".join(self.variants) or "none"
            raise ConfigError(f"variants.{name}: no such variant in params (known: {known})")
        return self.variants[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML types only (tuples become lists), as stored in checkpoints and the report."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _type_name(tp) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


def _check_scalar(path: str, value: Any, tp, meta, errors: list[str]):
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        errors.append(f"{path}: got {value!r}, expected {_type_name(tp)}")
        return value
    if tp in (int, float):
        lo, hi, lo_open, hi_open = meta.get("lo"), meta.get("hi"), meta.get("lo_open"), meta.get("hi_open")
        if value != value or (lo is not None and (value <= lo if lo_open else value < lo)) or (
            hi is not None and (value >= hi if hi_open else value > hi)
        ):
            bound = f"> {lo}" if lo_open else f">= {lo}"
            top = f"< {hi}" if hi_open else f"<= {hi}"
            errors.append(f"{path}: got {value!r}, expected {_type_name(tp)} {bound} and {top}")
    choices = meta.get("choices")
    if choices and value not in choices:
        errors.append(f"{path}: got {value!r}, expected one of {', '.join(map(repr, choices))}")
    return value


def _check_list(path: str, value: Any, tp, meta, errors: list[str]) -> tuple:
    """A list of any length (a `tuple[tp, ...]` field): each item checked like a scalar (`path[i]` in the message, the
    field's range applying to every item), no item twice."""
    if not isinstance(value, list):
        errors.append(f"{path}: got {value!r}, expected a list of {_type_name(tp).split(' ', 1)[1]}s")
        return ()
    before = len(errors)
    items = tuple(_check_scalar(f"{path}[{i}]", v, tp, meta, errors) for i, v in enumerate(value))
    repeated = sorted({repr(v) for v in items if items.count(v) > 1})
    if len(errors) == before and repeated:
        errors.append(f"{path}: got {value!r}, which lists {', '.join(repeated)} more than once")
    return items


def _build(cls, raw: Any, path: str, errors: list[str]):
    if not isinstance(raw, dict):
        errors.append(f"{path.rstrip('.') or 'params'}: got {raw!r}, expected a mapping of keys")
        return cls()
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            errors.append(f"{path}{key}: unknown key, expected one of {', '.join(sorted(names))}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value, tp, where = raw[f.name], hints[f.name], f"{path}{f.name}"
        if dataclasses.is_dataclass(tp):
            values[f.name] = _build(tp, value, where + ".", errors)
        elif typing.get_origin(tp) is dict:
            values[f.name] = _build_variants(value, where, errors)
        elif typing.get_origin(tp) is tuple and typing.get_args(tp)[-1] is Ellipsis:
            values[f.name] = _check_list(where, value, typing.get_args(tp)[0], f.metadata, errors)
        elif typing.get_origin(tp) is tuple:
            n = len(typing.get_args(tp))
            if not (isinstance(value, list) and len(value) == n and all(type(v) is int and v >= 1 for v in value)):
                errors.append(f"{where}: got {value!r}, expected a list of {n} positive integers")
            else:
                values[f.name] = tuple(value)
        else:
            values[f.name] = _check_scalar(where, value, tp, f.metadata, errors)
    try:
        return cls(**values)
    except TypeError:
        return cls()


def _build_variants(raw: Any, path: str, errors: list[str]) -> dict[str, VariantConfig]:
    if not isinstance(raw, dict) or not raw:
        errors.append(f"{path}: got {raw!r}, expected a non-empty mapping of variant name -> settings")
        return {}
    out = {}
    for name, spec in raw.items():
        where = f"{path}.{name}"
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            errors.append(f"{where}: bad variant name {name!r}, expected letters, digits, '_' or '-'")
            continue
        if not isinstance(spec, dict) or "distribution" not in spec:
            errors.append(f"{where}.distribution: missing, expected the name of a registered latent distribution")
            continue
        out[name] = _build(VariantConfig, spec, where + ".", errors)
    return out


def parse_params(raw: Any) -> Config:
    """Validate a parsed params mapping; raise ConfigError listing every problem."""
    errors: list[str] = []
    cfg = _build(Config, raw, "", errors)
    if isinstance(raw, dict) and "variants" not in raw:
        errors.append("variants: missing, expected a mapping of variant name -> settings")
    if not errors and cfg.compare not in cfg.variants:
        errors.append(f"compare: got {cfg.compare!r}, expected one of the variants ({', '.join(cfg.variants)})")
    if isinstance(cfg.device, str) and not DEVICE_PATTERN.fullmatch(cfg.device):
        errors.append(f"device: got {cfg.device!r}, expected 'auto', 'cpu', 'cuda' or 'cuda:N' (N a GPU index)")
    if errors:
        raise ConfigError("invalid params:\n" + "\n".join(f"  {e}" for e in errors))
    return cfg


def load_params(path: str | os.PathLike = "params.yaml") -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the project root, where params.yaml lives)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw)
