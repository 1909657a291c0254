"""What one resumable training checkpoint costs at full scale: the training loop's real state (decoder, the latent
rows of every image, both SparseAdam moments, RNG states) for --n images, gathered and written as `train` writes it
(`_loop_state` + `save_tensors`), timed over --rounds, with the file's size. The per-epoch cost of
`train.checkpoint_every: 1` is this time over an epoch's (the H200's full-scale epoch: docs/performance.md).

    .venv/bin/python benchmarks/checkpoint_cost.py [--n 60000] [--variant normal] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vadlib.infra.config import load_params, parse_params  # noqa: E402
from vadlib.infra.io import save_tensors  # noqa: E402
from vadlib.infra.runtime import describe, resolve_device  # noqa: E402
from vadlib.pipeline.train import _loop_state, build_loop  # noqa: E402


def measure(n: int, variant: str, rounds: int, device: torch.device) -> dict:
    raw = load_params(ROOT / "params.yaml").to_dict()
    raw["data"]["n_train"] = n
    raw["train"]["batch_size"] = 512
    cfg = parse_params(raw)
    gen = torch.Generator().manual_seed(0)
    data = {"images": torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=gen),
            "labels": torch.arange(n) % 10, "indices": torch.arange(n)}
    loop = build_loop(cfg, variant, data, device)
    loop.epochs = 1
    perm = torch.randperm(n, generator=gen)[:512].to(device)  # one step allocates both SparseAdam moments in full
    from vadlib.core.objective import per_image_loss

    loss, _, _ = per_image_loss(loop.decoder, loop.dist, loop.table(perm), loop.images[perm], loop.beta)
    loss.backward()
    for opt in loop.optimizers:
        opt.step()
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resume.pt"
        for _ in range(rounds):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            save_tensors(path, _loop_state(loop, "bench"))
            seconds.append(time.perf_counter() - start)
        size = path.stat().st_size
    return {"n": n, "variant": variant, "rounds": rounds, "seconds": seconds,
            "median_seconds": statistics.median(seconds), "file_mb": size / 1e6, "device": describe(device),
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "date": date.today().isoformat()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--variant", default="normal")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="JSON file to write (default: print only)")
    args = ap.parse_args()
    out = measure(args.n, args.variant, args.rounds, resolve_device(args.device))
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
