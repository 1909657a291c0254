"""Micro-benchmark: the decoder's stride-2 ConvTranspose2d layers as one matmul plus `F.fold` vs PyTorch's kernel.

Does writing ConvTranspose2d(c_in, c_out, 4, 2, 1) as a GEMM (every input pixel times the flattened kernel)
followed by col2im (`F.fold`) beat PyTorch's kernel (oneDNN on a CPU)? Same weights, outputs checked equal, forward
and forward + backward timed in one process, interleaved. Writes one JSON file, by default
benchmarks/runs/<date>-<machine>-convt-kernels/convt_fold.json:

    .venv/bin/python benchmarks/convt_fold.py [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """ConvTranspose2d as matmul + col2im: the columns of a transposed conv are input pixels times the kernel."""

    def forward(self, x):
        k, s, p = self.kernel_size[0], self.stride[0], self.padding[0]
        side = (x.shape[-1] - 1) * s - 2 * p + k
        cols = self.weight.flatten(1).t() @ x.flatten(2)  # [B, c_out*k*k, H*W]
        return F.fold(cols, (side, side), k, stride=s, padding=p) + self.bias.view(1, -1, 1, 1)


def timed(fn, steps: int) -> float:
    for _ in range(3):
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None, help="the JSON file to write (default: a dated folder in benchmarks/runs)")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for c_in, c_out, side in ((128, 64, 7), (64, 1, 14)):  # the decoder's two stride-2 layers
        ref = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
        fold = FoldConvTranspose2d(c_in, c_out, 4, 2, 1)
        fold.load_state_dict(ref.state_dict())
        x = torch.randn(args.batch_size, c_in, side, side, requires_grad=True)
        with torch.no_grad():
            diff = float((ref(x) - fold(x)).abs().max())
        ms = {name: {"forward": [], "forward_backward": []} for name in ("pytorch", "fold")}
        for _ in range(args.rounds):
            for name, layer in (("pytorch", ref), ("fold", fold)):
                with torch.no_grad():
                    ms[name]["forward"].append(timed(lambda: layer(x), args.steps))
                ms[name]["forward_backward"].append(timed(lambda: layer(x).square().sum().backward(), args.steps))
        best = {n: {k: round(min(v), 2) for k, v in d.items()} for n, d in ms.items()}
        rows.append({"layer": f"ConvTranspose2d({c_in},{c_out},4,2,1) on {side}x{side}", "max_abs_diff": diff,
                     "ms_pytorch": best["pytorch"], "ms_fold": best["fold"],
                     "fold_speedup_forward_backward": round(best["pytorch"]["forward_backward"]
                                                            / best["fold"]["forward_backward"], 3)})
        print(json.dumps(rows[-1]))
    out = {"batch_size": args.batch_size, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "steps": args.steps, "rounds": args.rounds, "statistic": "best round's mean ms per step", "rows": rows}
    path = Path(args.out) if args.out else default_out()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


def default_out() -> Path:
    from bench import machine, machine_slug  # benchmarks/bench.py, beside this file

    day, slug = time.strftime("%Y-%m-%d"), machine_slug(machine(torch.device("cpu")))
    return Path(__file__).resolve().parent / "runs" / f"{day}-{slug}-convt-kernels" / "convt_fold.json"


if __name__ == "__main__":
    main()
