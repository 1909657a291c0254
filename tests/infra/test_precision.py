"""The `precision` param: float32 stays strict (also cuDNN's TF32, on by default in PyTorch), tf32 and bf16 are
opt-ins of the training loops only. Their speed is measured on a GPU (benchmarks/gpu_check.sh), not here."""
import pytest
import torch

from helpers import tiny_config, tiny_data
from vadlib.infra import runtime
from vadlib.infra.config import parse_params
from vadlib.infra.errors import ConfigError
from vadlib.pipeline.train import train_variant


@pytest.fixture(autouse=True)
def strict_again():
    yield
    runtime.set_precision("float32")


def test_importing_vadlib_makes_cuda_float32_strict():
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert tiny_config().precision == "float32"


@pytest.mark.parametrize("name, tf32, dtype", [("float32", False, torch.float32), ("tf32", True, torch.float32),
                                               ("bf16", False, torch.bfloat16)])
def test_set_precision_sets_the_flags_and_the_loops_autocast(name, tf32, dtype):
    runtime.set_precision(name)
    assert torch.backends.cuda.matmul.allow_tf32 is tf32 and torch.backends.cudnn.allow_tf32 is tf32
    with runtime.autocast(torch.device("cpu")):
        out = torch.nn.Linear(4, 4)(torch.ones(2, 4))
    assert out.dtype == dtype


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ConfigError, match="precision: got 'fp8'"):
        parse_params({"precision": "fp8"})
    with pytest.raises(ConfigError, match="precision: got 'half'"):
        runtime.set_precision("half")


def _train(precision):
    runtime.set_precision(precision)
    cfg = tiny_config(precision=precision, train={"epochs": 30, "batch_size": 10, "lr_latent": 0.05})
    model, _ = train_variant(cfg, "normal", tiny_data(20), torch.device("cpu"), progress=False)
    return model


def test_bf16_training_autocasts_the_decoder_and_lands_near_float32():
    dtypes = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda mod, args, out: dtypes.append(out.dtype) if isinstance(mod, torch.nn.ConvTranspose2d) else None)
    try:
        bf16 = _train("bf16")
        bf16_dtypes = set(dtypes)
        dtypes.clear()
        fp32 = _train("float32")
    finally:
        hook.remove()
    assert bf16_dtypes == {torch.bfloat16} and set(dtypes) == {torch.float32}
    assert bf16["settings"]["precision"] == "bf16" and fp32["settings"]["precision"] == "float32"
    assert all(v.dtype == torch.float32 for v in bf16["decoder"].values() if v.is_floating_point())  # fp32 master
    final = bf16["history"]["loss"][-1], fp32["history"]["loss"][-1]
    assert abs(final[0] - final[1]) <= 0.1 * final[1], final
    assert final[0] < 0.5 * bf16["history"]["loss"][0]  # it learned
