"""Joint training of the decoder and the per-image latent parameters, with resumable checkpoints.

One process, or one rank of a torchrun launch (`infra.distributed`): a rank trains its shard of the images' rows
against a DDP decoder, and rank 0 gathers the rows into the same model file a single process writes.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from ..infra.config import Config
from ..core.distributions import get_distribution
from ..infra.errors import CheckpointError, Interrupted
from ..infra.io import load_tensors, save_tensors
from ..core.latents import initial_params, latent_optimizer
from ..core.images import to_unit
from ..core.models import Decoder
from ..core.optimize import Loop, lr_lambda
from ..infra.distributed import SINGLE, World, agree, all_sum, barrier, gather_rows, local_batch, shard
from ..infra.runtime import generator, seed_everything


def _settings(cfg: Config, variant: str) -> dict:
    """The params that shape a trained model (those the `train` stage declares)."""
    raw = cfg.to_dict()
    return {"seed": raw["seed"], "precision": raw["precision"], "model": raw["model"], "train": raw["train"],
            "variant": raw["variants"][variant]}


def fingerprint(cfg: Config, variant: str, indices: torch.Tensor) -> str:
    """What a resumable checkpoint must match: every setting that shapes training, and the data."""
    blob = json.dumps(_settings(cfg, variant), sort_keys=True).encode() + indices.numpy().tobytes()
    return hashlib.sha256(blob).hexdigest()[:16]


def _rank_purpose(purpose: str, world: World) -> str:
    """Rank 0 (and a single process) keeps the plain stream, so world size 1 reproduces a single process exactly."""
    return purpose if world.rank == 0 else f"{purpose}/rank{world.rank}"


def _wrap(decoder: Decoder, world: World, device: torch.device) -> tuple[Decoder, torch.nn.Module | None]:
    """(decoder, DDP net) inside a launch; SyncBatchNorm where PyTorch has it (CUDA)."""
    if not world.active:
        return decoder, None
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda" and world.size > 1:
        decoder = torch.nn.SyncBatchNorm.convert_sync_batchnorm(decoder)
    return decoder, DDP(decoder, device_ids=[device] if device.type == "cuda" else None)


def build_loop(cfg: Config, variant: str, train_data: dict, device: torch.device, world: World = SINGLE) -> Loop:
    vcfg, tcfg = cfg.variant(variant), cfg.train
    dist = get_distribution(vcfg.distribution, f"variants.{variant}.distribution")
    n_total = train_data["images"].shape[0]
    rows = shard(n_total, world)
    images = to_unit(train_data["images"][rows], device=device)
    dim = cfg.model.latent_dim
    torch.manual_seed(cfg.seed)  # decoder weight init (the same on every rank)
    decoder, net = _wrap(Decoder(dim, cfg.model.channels).to(device), world, device)
    init = initial_params(dist, n_total, dim, vcfg.init, vcfg.init_scale, vcfg.init_width,
                          generator(cfg.seed, f"init/{variant}"), train_data["labels"])[rows]
    table, latent_opt = latent_optimizer(tcfg.latent_optimizer, init, device, tcfg.lr_latent)
    # fused: one kernel for all decoder tensors, ~1.1x faster steps on CPU (benchmarks/bench.py --ideas)
    optimizers = [torch.optim.AdamW(decoder.parameters(), lr=tcfg.lr_decoder, weight_decay=tcfg.weight_decay,
                                    fused=True),
                  latent_opt]
    batch = local_batch(tcfg.batch_size, world)
    largest_shard = -(-n_total // world.size)  # shard() hands the first ranks one row more
    steps_per_epoch = -(-largest_shard // batch)
    factor = lr_lambda(tcfg.epochs * steps_per_epoch, tcfg.schedule, tcfg.warmup_epochs * steps_per_epoch)
    schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in optimizers]
    seed_everything(cfg.seed, _rank_purpose(f"noise/{variant}", world))
    return Loop(decoder, dist, table, images, vcfg.beta, tcfg.epochs, batch, optimizers, schedulers,
                generator(cfg.seed, _rank_purpose(f"shuffle/{variant}", world)), train_decoder=True,
                label=f"train/{variant}", net=net, world=world, steps_per_epoch=steps_per_epoch, n_total=n_total)


clock = time.monotonic  # the checkpoint cadence's clock (tests replace it)


def _loop_state(loop: Loop, fp: str) -> dict:
    state = {
        "fingerprint": fp,
        "epoch": loop.epoch,
        "decoder": {k: v.detach().cpu() for k, v in loop.decoder.state_dict().items()},
        "latents": loop.table.weight.detach(),
        "optimizers": [opt.state_dict() for opt in loop.optimizers],
        "schedulers": [s.state_dict() for s in loop.schedulers],
        "history": loop.history,
        "rng_shuffle": loop.perm_generator.get_state(),
        "rng_cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(loop: Loop, state: dict) -> None:
    loop.epoch = state["epoch"]
    loop.decoder.load_state_dict(state["decoder"])
    with torch.no_grad():
        loop.table.weight.copy_(state["latents"])
    for opt, s in zip(loop.optimizers, state["optimizers"]):
        opt.load_state_dict(s)
    for sched, s in zip(loop.schedulers, state["schedulers"]):
        sched.load_state_dict(s)
    loop.history = state["history"]
    loop.perm_generator.set_state(state["rng_shuffle"])
    torch.set_rng_state(state["rng_cpu"])
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])


def _due(elapsed: float, min_seconds: float, world: World, device: torch.device) -> bool:
    """A due checkpoint is written only `min_seconds` after the last (0: always). Every rank must decide alike, or
    their resume files would hold different epochs, so the slowest clock decides for all."""
    if min_seconds <= 0:
        return True
    if not world.active:
        return elapsed >= min_seconds
    return bool(all_sum(torch.tensor([float(elapsed < min_seconds)], device=device), world).item() == 0)


def _rank_resume(resume_path: str | Path | None, world: World) -> Path | None:
    """Each rank of a multi-process run keeps its own resume file (its rows and optimiser moments)."""
    if not resume_path:
        return None
    path = Path(resume_path)
    return path if world.size == 1 else path.with_name(f"{path.stem}.rank{world.rank}of{world.size}{path.suffix}")


def train_variant(cfg: Config, variant: str, train_data: dict, device: torch.device,
                  resume_path: str | Path | None = None, progress: bool = True,
                  world: World = SINGLE) -> tuple[dict | None, float]:
    """Train one variant; returns (the model file's content, the training seconds, which must stay out of it).

    With `resume_path`, the loop state is saved there every `train.checkpoint_every` epochs (but not within
    `train.checkpoint_min_seconds` of the last save) and picked up again by the next call with the same settings,
    giving the same result as an uninterrupted run.
    In a multi-process launch only rank 0 gets the model file (the others get None).
    """
    loop = build_loop(cfg, variant, train_data, device, world)
    fp = fingerprint(cfg, variant, train_data["indices"])
    resume_fp = fp if world.size == 1 else f"{fp}/world{world.size}"
    resume_path = _rank_resume(resume_path, world)
    if resume_path and resume_path.exists():
        try:
            # onto the CPU whatever the device: set_state takes CPU RNG states only, and _restore's load_state_dict
            # and copy_ move the model and optimiser tensors to the device
            state = load_tensors(resume_path)
        except CheckpointError:
            state = None  # an unreadable partial checkpoint is only a lost head start
        if state is not None and state.get("fingerprint") == resume_fp:
            _restore(loop, state)
    if world.active and not agree(loop.epoch, world, device):
        loop = build_loop(cfg, variant, train_data, device, world)  # a kill between two ranks' saves: start over
    if loop.epoch and world.is_main:
        print(f"{loop.label}: resuming from epoch {loop.epoch} ({resume_path})")

    last_saved = clock()

    def checkpoint(lp: Loop) -> None:
        nonlocal last_saved
        every = cfg.train.checkpoint_every
        if not (resume_path and every and lp.epoch % every == 0 and lp.epoch < lp.epochs):
            return
        if not _due(clock() - last_saved, cfg.train.checkpoint_min_seconds, world, device):
            return
        save_tensors(resume_path, _loop_state(lp, resume_fp))
        last_saved = clock()

    try:
        history = loop.run(on_epoch_end=checkpoint, progress=progress and world.is_main)
    except KeyboardInterrupt:
        saved = f"the last checkpoint in {resume_path}" if resume_path and resume_path.exists() else "no checkpoint"
        raise Interrupted(
            f"{loop.label}: stopped during epoch {loop.epoch + 1} of {loop.epochs}; {saved}. "
            "Run `dvc repro` again to resume from it (same params)."
        ) from None
    latents = gather_rows(loop.table.weight, world)
    seconds = sum(history["seconds"])
    if latents is None:
        return None, seconds
    return model_file(cfg, variant, loop, fp, train_data["labels"], latents), seconds


def model_file(cfg: Config, variant: str, loop: Loop, fp: str, labels: torch.Tensor, latents: torch.Tensor) -> dict:
    """What `models/<variant>.pt` holds: the learned tensors and only the settings that shaped them.

    A pure function of the stage's declared inputs: wall times, the device name and optimiser state stay out,
    so a rerun with the same result writes the same bytes and DVC reruns nothing downstream.
    """
    return {
        "fingerprint": fp,
        "variant": variant,
        "distribution": loop.dist.name,
        "architecture": loop.decoder.architecture(),
        "settings": _settings(cfg, variant),
        "decoder": {k: v.detach().cpu() for k, v in loop.decoder.state_dict().items()},
        "latents": latents,
        "labels": labels,
        "history": {k: v for k, v in loop.history.items() if k != "seconds"},
    }


def finish(resume_path: str | Path | None, world: World = SINGLE) -> None:
    """Drop the resume checkpoint(s) once the final output is safely written; every rank calls it after rank 0 has
    written the model, and waits for all the others first, so a failed or killed write leaves every rank's file and
    the rerun resumes."""
    barrier(world)
    path = _rank_resume(resume_path, world)
    if path:
        path.unlink(missing_ok=True)


def stage(cfg: Config, variant: str) -> str | None:
    """The `train@<variant>` stage, alone or as one rank of a torchrun launch (then only rank 0 writes and reports)."""
    from ..infra.data import load_prepared
    from ..infra.distributed import close_world, init_world, launched
    from ..infra.io import history_rows, write_csv
    from ..infra.runtime import announce_device, describe, resolve_device, set_precision
    from . import artifacts

    cfg.variant(variant)
    set_precision(cfg.precision)
    world, device = init_world(cfg.device) if launched() else (SINGLE, resolve_device(cfg.device))
    if world.is_main:
        announce_device(cfg.device, device)
    line = None
    try:
        model, seconds = train_variant(cfg, variant, load_prepared(artifacts.TRAIN_DATA), device,
                                       resume_path=artifacts.resume(variant), world=world)
        if model is not None:
            save_tensors(artifacts.model(variant), model)
            write_csv(artifacts.train_curve(variant), ["epoch", "loss", "rec", "kl"],
                      history_rows(model["history"], ["loss", "rec", "kl"]))
            artifacts.write_seconds("train", variant, seconds, describe(device))
            h = model["history"]
            line = (f"train/{variant}: final loss {h['loss'][-1]:.4f} after {len(h['loss'])} epochs, "
                    f"{seconds:.0f} s on {describe(device)}" + (f" x {world.size} processes" if world.size > 1 else ""))
        finish(artifacts.resume(variant), world)
    finally:
        close_world()
    return line
