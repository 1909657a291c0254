"""Picking a resume checkpoint up again on a device other than the CPU (a GPU: its tests are in test_cuda.py)."""
import warnings

import pytest
import torch

from helpers import tiny_config, tiny_data
from vadlib.core.optimize import Loop
from vadlib.infra.io import load_tensors
from vadlib.pipeline.train import train_variant

CPU = torch.device("cpu")
# The meta device stands in for a GPU on a machine without one: like CUDA, it is a device other than the CPU, so
# reading a checkpoint with map_location=<device> would put the saved RNG states there, where Generator.set_state and
# torch.set_rng_state refuse them ("RNG state must be a torch.ByteTensor"). Meta tensors hold no values, so the loop is
# stopped once its state is restored, before it computes anything.
NOT_CPU = torch.device("meta")


class Restored(Exception):
    pass


def test_resume_state_is_restored_on_a_device_other_than_the_cpu(tmp_path, monkeypatch):
    cfg = tiny_config(train={"epochs": 6, "checkpoint_every": 2})
    data = tiny_data()
    resume = tmp_path / "resume.pt"
    train_variant(cfg, "normal", data, CPU, resume_path=resume, progress=False)  # leaves the epoch-4 checkpoint
    saved = load_tensors(resume)
    assert saved["epoch"] == 4

    restored = {}

    def stop(loop, *args, **kwargs):
        restored.update(epoch=loop.epoch, shuffle=loop.perm_generator.get_state(), cpu=torch.get_rng_state(),
                        device=loop.table.weight.device)
        raise Restored

    monkeypatch.setattr(Loop, "run", stop)
    torch.manual_seed(12345)  # a different global stream, which the restore must replace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "copying from a non-meta parameter ... is a no-op": meta holds no values
        with pytest.raises(Restored):
            train_variant(cfg, "normal", data, NOT_CPU, resume_path=resume, progress=False)
    assert restored["device"] == NOT_CPU
    assert restored["epoch"] == 4
    assert torch.equal(restored["shuffle"], saved["rng_shuffle"])
    assert torch.equal(restored["cpu"], saved["rng_cpu"])


@pytest.mark.parametrize("min_seconds, saved_at", [(0, [1, 2, 3, 4, 5]), (60, [2, 4]), (1e6, [])])
def test_checkpoint_min_seconds_skips_due_checkpoints_until_enough_time_has_passed(tmp_path, monkeypatch,
                                                                                   min_seconds, saved_at):
    """A clock that advances 40 s per reading: with a 60 s minimum every other due checkpoint is written (the
    reading after a save restarts the wait); 0 keeps every one; a long minimum skips them all. The last epoch
    never checkpoints (the model file follows)."""
    import vadlib.pipeline.train as train_mod

    readings = iter(range(0, 10_000, 40))
    monkeypatch.setattr(train_mod, "clock", lambda: next(readings))
    epochs = []
    real_save = train_mod.save_tensors
    monkeypatch.setattr(train_mod, "save_tensors", lambda path, state: (epochs.append(state["epoch"]),
                                                                        real_save(path, state)))
    cfg = tiny_config(train={"epochs": 6, "checkpoint_every": 1, "checkpoint_min_seconds": min_seconds})
    train_variant(cfg, "normal", tiny_data(), CPU, resume_path=tmp_path / "resume.pt", progress=False)
    assert epochs == saved_at
