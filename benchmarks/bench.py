"""Throughput benchmark: vadlib's loop against the course's naive style and against the compute bound.

Why each comparison exists:
1. train: ours vs a faithful naive loop (Dataset + DataLoader, dense latent table in one Adam, ConvTranspose2d on a
   1x1 input, the course's Frobenius loss). This is the speed-up a user of the course code would actually see.
2. bound: ours vs the same decoder stepping on one resident batch (no gather, shuffle, schedulers or history).
   What ours loses here is pure loop overhead.
3. fit: latent fitting with the frozen decoder, ours vs the course's `evaluate_model` style. Fitting is run for
   every test image, so it is the other half of the pipeline's compute.
4. time to quality (--time-to-quality): a speed-up only matters if it buys the same result sooner; our default
   recipe (train + fit, wall time, test course_loss) vs the original 750 + 500 epoch recipe at the naive speed.
5. dvc no-op (--dvc-noop): an up-to-date `dvc repro` must cost seconds, not a rerun.

Each throughput is N / median(per-epoch seconds), skipping the first (warm-up) epoch. All in one process, so
every number comes from the same machine, threads and device. It reports measured ratios, nothing else.
Usage: `.venv/bin/python benchmarks/bench.py [--out DIR]`; writes DIR/results.json (every figure and the machine)
and DIR/results.md (the printed table), by default in benchmarks/runs/<date>-<machine>-bench/.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vadlib.infra.config import load_params
from vadlib.infra.data import load_split
from vadlib.infra.runtime import PRECISIONS, resolve_device, set_precision
from vadlib.core.distributions import get_distribution
from vadlib.pipeline.fit import fit_latents
from vadlib.infra.io import write_json, write_text
from vadlib.infra.markdown import table
from vadlib.core.models import Decoder
from vadlib.core.objective import per_image_loss
from vadlib.studies.proxy import fit_and_score
from vadlib.pipeline.train import build_loop, train_variant

ROOT = Path(__file__).resolve().parent.parent


# ---- the course's naive style -------------------------------------------------------------------------------
class IndexedImages(Dataset):
    """The course's dataset: (index, image) per sample; images converted to float [0, 1] once, up front."""

    def __init__(self, images_uint8):
        self.images = images_uint8.float().div(255).unsqueeze(1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return i, self.images[i]


class ReferenceDecoder(nn.Module):
    """The course decoder with standard layers: the first ConvTranspose2d runs on a [B, d, 1, 1] input."""

    def __init__(self, latent_dim=100, channels=(128, 64)):
        super().__init__()
        c1, c2 = channels
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, c1, 7), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.ConvTranspose2d(c2, 1, 4, 2, 1), nn.Sigmoid(), nn.Flatten(), nn.Linear(784, 784))

    def forward(self, z):
        return self.net(z.view(z.shape[0], -1, 1, 1)).view(-1, 1, 28, 28)


def reconstruction_loss(x, x_rec):
    """The course's loss: Frobenius norm on the 0-255 scale over the batch's pixel count."""
    return torch.norm(x * 255 - x_rec * 255) / (x.shape[0] * 784)


def naive_epochs(decoder, latents, optimizer, loader, epochs, device, train):
    """Per-epoch seconds of the course loop: DataLoader batches, latents[idx], dense Adam, loss.item() logging."""
    decoder.train(train)
    seconds = []
    for _ in range(epochs):
        sync(device)
        start, total = time.perf_counter(), 0.0
        for idx, x in loader:
            idx, x = idx.to(device), x.to(device)
            loss = reconstruction_loss(x, decoder(latents[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds


# ---- helpers ------------------------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(n_images, seconds):
    """Images per second from the median epoch after the warm-up one."""
    return n_images / statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def machine(device):
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name")), model)
    except (OSError, subprocess.SubprocessError):
        pass
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cpu_model": model,
            "gpu": gpu, "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "device": str(device)}


def step_epochs(cfg, n, epochs, device, *, batch_size=None, fit=False, channels_last=False, compiled=None,
                fused=False, reference=False):
    """Decoder + objective stepping on one resident batch, nothing else: the loop's compute bound.

    The keyword switches are the speed ideas measured in `ideas()`: each changes one thing against this bound.
    `fit` freezes the decoder (eval mode, no weight gradients), as latent fitting does.
    """
    torch.manual_seed(cfg.seed)
    b, dist, vcfg = batch_size or cfg.train.batch_size, get_distribution("ad"), cfg.variant("ad")
    model_cls = ReferenceDecoder if reference else Decoder
    decoder = model_cls(cfg.model.latent_dim, cfg.model.channels).to(device).train(not fit).requires_grad_(not fit)
    x = torch.rand(b, 1, 28, 28, device=device)
    if channels_last:
        decoder, x = decoder.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    z = torch.randn(b, cfg.model.latent_dim, device=device, requires_grad=True)
    params = [z] if fit else [*decoder.parameters(), z]
    opt = torch.optim.Adam(params, lr=cfg.train.lr_decoder, **({"fused": True} if fused else {}))
    forward = torch.compile(decoder, mode=compiled) if compiled else decoder  # compiled: a torch.compile mode
    steps, seconds = math.ceil(n / b), []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            loss = per_image_loss(forward, dist, z, x, vcfg.beta)[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return steps * b, seconds


def ideas(cfg, n, epochs, device):
    """Each speed idea as images/s relative to our default step, all in this one run."""
    base_train = rate(*step_epochs(cfg, n, epochs, device))
    base_fit = rate(*step_epochs(cfg, n, epochs, device, fit=True, batch_size=cfg.fit.batch_size))
    rows = []

    def measure(name, mode, **kw):
        start = time.perf_counter()
        fit = mode == "fit"
        if fit:
            kw.setdefault("batch_size", cfg.fit.batch_size)
        r = rate(*step_epochs(cfg, n, epochs, device, fit=fit, **kw))
        base = base_fit if fit else base_train
        rows.append({"idea": name, "mode": mode, "images_per_s": round(r, 1), "vs_default": round(r / base, 3),
                     "seconds": round(time.perf_counter() - start, 1)})

    measure("first ConvTranspose2d as ConvTranspose2d (not a matmul)", "train", reference=True)
    measure("channels_last", "train", channels_last=True)
    measure("fused Adam", "train", fused=True)
    measure("torch.compile (incl. compile time in the warm-up epoch)", "train", compiled="default")
    if device.type == "cuda":  # CUDA graphs: one replay per step instead of ~40 kernel launches
        measure("torch.compile reduce-overhead (CUDA graphs)", "train", compiled="reduce-overhead")
        measure("torch.compile reduce-overhead (CUDA graphs)", "fit", compiled="reduce-overhead")
    for b in (32, 128, 256):
        measure(f"batch {b}", "train", batch_size=b)
    measure("channels_last", "fit", channels_last=True)
    for b in (32, 64, 256, 1000):
        if b != cfg.fit.batch_size:
            measure(f"batch {b}", "fit", batch_size=b)
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads > 1:
        torch.set_num_threads(1)
        try:
            measure("1 torch thread", "train")
        finally:
            torch.set_num_threads(threads)
    return {"default_train_images_per_s": round(base_train, 1), "default_fit_images_per_s": round(base_fit, 1),
            "rows": rows}


def roofline(cfg, device, naive_rate):
    """How fast training could possibly go: FLOPs per image over the machine's measured matmul peak.

    The ceiling as a multiple of the naive loop's rate bounds the speed-up any loop could reach on this device.
    """
    from torch.utils.flop_counter import FlopCounterMode

    decoder = Decoder(cfg.model.latent_dim, cfg.model.channels).to(device)
    z = torch.randn(64, cfg.model.latent_dim, device=device, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        decoder(z).square().sum().backward()
    flops = counter.get_total_flops() / 64
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    times = []
    for _ in range(8):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - start)
    peak = 2 * 2048 ** 3 / min(times[2:])
    ceiling = peak / flops
    return {"train_mflop_per_image": round(flops / 1e6, 2), "matmul_peak_gflops": round(peak / 1e9, 1),
            "ceiling_images_per_s": round(ceiling, 1), "ceiling_vs_naive": round(ceiling / naive_rate, 2),
            "naive_gflops": round(naive_rate * flops / 1e9, 1)}


# The two fitting recipes --time-to-quality compares: the course's random start, and the warm start, each image
# starting from the train code whose decode is nearest (params' default)
RANDOM_START = {"init": "random", "lr": 1.0, "epochs": 150}
WARM_START = {"init": "nearest", "lr": 0.2, "epochs": 100}


def _seconds_to_within(loss_curve, seconds_curve, target):
    """Cumulative seconds until the epoch loss first reaches `target`; None if it never does."""
    total = 0.0
    for loss, sec in zip(loss_curve, seconds_curve):
        total += sec
        if loss <= target:
            return round(total, 2)
    return None


def time_to_quality(cfg, train, test, device, naive_train_s, naive_fit_s, quick=False):
    """Our default recipe end to end vs the original recipe's 750 + 500 epochs at the measured naive speed; then,
    with the same trained decoder, fitting the test images from the course's random start vs the warm start:
    seconds until each is within 1% of the better of the two converged fit losses (one quality bar for both).
    The default row (`ours_*`) uses whichever of the two recipes params' `fit.init` names."""
    n_train, n_test = cfg.data.n_train, cfg.data.n_test
    train_data = {"images": train[0][:n_train], "labels": train[1][:n_train], "indices": torch.arange(n_train)}
    test_images = test[0][:n_test]
    start = time.perf_counter()
    model, _ = train_variant(cfg, "ad", train_data, device, progress=False)
    train_s = time.perf_counter() - start
    def recipe(r):  # --quick: both recipes shortened to params' (shortened) fit epochs
        epochs = min(r["epochs"], cfg.fit.epochs) if quick else r["epochs"]
        return dataclasses.replace(cfg.fit, **{**r, "epochs": epochs})

    fits = {r["init"]: fit_and_score(model, cfg, "ad", train_data, test_images, device, recipe(r))
            for r in (RANDOM_START, WARM_START)}
    default = fits[cfg.fit.init]
    ours_s, loss = train_s + default["fit_seconds"], default["test_course_loss"]
    naive_s = naive_train_s * n_train * 750 + naive_fit_s * n_test * 500
    target = 1.01 * min(f["fit_loss_curve"][-1] for f in fits.values())
    fit_rows = {name: {"seconds_to_within_1pct": _seconds_to_within(f["fit_loss_curve"], f["fit_seconds_curve"],
                                                                   target),
                       "seconds_total": round(f["fit_seconds"], 2), "final_fit_loss": round(f["fit_loss_curve"][-1], 4),
                       "test_course_loss": round(f["test_course_loss"], 5), "epochs": len(f["fit_loss_curve"])}
                for name, f in fits.items()}
    return {"ours_seconds": round(ours_s, 2), "ours_test_course_loss": round(loss, 5),
            "train_epochs": cfg.train.epochs, "fit_epochs": cfg.fit.epochs, "fit_init": cfg.fit.init,
            "naive_recipe_seconds_estimated": round(naive_s, 1), "speedup": round(naive_s / ours_s, 2),
            "fit_target_loss": round(target, 4), "fit": fit_rows}


def dvc_noop():
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "DVC_NO_ANALYTICS": "1"}
    status = subprocess.run(["dvc", "status", "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    if status.returncode != 0 or json.loads(status.stdout or "null") != {}:
        return "skipped: run `dvc repro` first"
    for _ in range(2):  # the first run may refresh DVC's caches; time the second
        start = time.perf_counter()
        subprocess.run(["dvc", "repro"], cwd=ROOT, env=env, check=True, capture_output=True)
    return round(time.perf_counter() - start, 2)


# ---- main ---------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: N=128, 2 epochs each, one thread")
    ap.add_argument("--n", type=int, default=1000, help="train images used for the throughput runs")
    ap.add_argument("--epochs", type=int, default=6, help="epochs per run, the first is warm-up")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every throughput run")
    ap.add_argument("--data-root", default=None, help="Fashion-MNIST folder (default: VADLIB_DATA_ROOT or params)")
    ap.add_argument("--device", default=None, help="override params' device (auto, cpu, cuda)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="override our train and fit batch size (e.g. the large-N GPU batch); the naive loop keeps 64")
    ap.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="override params' precision (tf32, bf16: GPU options; compare our images/s across runs)")
    ap.add_argument("--out", default=None,
                    help="folder for results.json and results.md (default: benchmarks/runs/<date>-<machine>-bench), "
                         "or a file name ending in .json (its table goes beside it as .md)")
    ap.add_argument("--time-to-quality", action="store_true", help="also run the default recipe end to end (minutes)")
    ap.add_argument("--dvc-noop", action="store_true", help="also time an up-to-date `dvc repro`")
    ap.add_argument("--ideas", action="store_true",
                    help="also measure each speed idea (channels_last, compile, fused Adam, batch sizes, threads)")
    args = ap.parse_args()
    if args.epochs < 2 or args.rounds < 1:
        ap.error("--epochs must be >= 2 (the first is warm-up) and --rounds >= 1")
    if args.quick:
        args.n, args.epochs, args.rounds = 128, 2, 1
        torch.set_num_threads(1)

    cfg = load_params(ROOT / "params.yaml")
    if args.batch_size:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=args.batch_size),
                                  fit=dataclasses.replace(cfg.fit, batch_size=args.batch_size))
    device = resolve_device(args.device or cfg.device)
    if args.precision:
        cfg = dataclasses.replace(cfg, precision=args.precision)
    set_precision(cfg.precision)
    root = Path(args.data_root) if args.data_root else cfg.data.resolved_root
    root = root if root.is_absolute() else ROOT / root
    train = load_split(root, "train", verify_md5=False)
    images, labels, n, e = train[0][:args.n], train[1][:args.n], args.n, args.epochs

    # Rounds interleave ours, the bound and the naive loops, so a drift in machine speed (it reaches 20% within
    # minutes here) hits every contender alike; each rate pools the post-warm-up epochs of all rounds.
    seconds = {k: [] for k in ("ours_train", "bound", "naive_train", "ours_fit", "naive_fit")}
    run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=e))
    fit_cfg = dataclasses.replace(cfg.fit, epochs=e)
    for _ in range(args.rounds):
        # 1. training: ours
        loop = build_loop(run_cfg, "ad", {"images": images, "labels": labels}, device)
        seconds["ours_train"] += loop.run(progress=False)["seconds"][1:]
        # 2. compute bound
        bound_n, bound_s = step_epochs(cfg, n, e, device)
        seconds["bound"] += bound_s[1:]
        # 1. training: naive
        torch.manual_seed(cfg.seed)
        ref = ReferenceDecoder(cfg.model.latent_dim, cfg.model.channels).to(device)
        latents = nn.Parameter(torch.randn(n, cfg.model.latent_dim, device=device))
        opt = torch.optim.Adam([*ref.parameters(), latents], lr=cfg.train.lr_decoder)
        loader = DataLoader(IndexedImages(images), batch_size=64, shuffle=True)
        seconds["naive_train"] += naive_epochs(ref, latents, opt, loader, e, device, train=True)[1:]
        # 3. fitting with the decoder just trained, ours then naive
        _, hist = fit_latents(loop.decoder, cfg.variant("ad"), fit_cfg, images, cfg.seed, "bench", progress=False,
                              train_params=loop.table.weight.detach())
        seconds["ours_fit"] += hist["seconds"][1:]
        decoder = loop.decoder.eval().requires_grad_(False)
        latents = torch.randn(n, cfg.model.latent_dim, device=device, requires_grad=True)
        opt = torch.optim.Adam([latents], lr=cfg.fit.lr)
        loader = DataLoader(IndexedImages(images), batch_size=64, shuffle=False)
        seconds["naive_fit"] += naive_epochs(decoder, latents, opt, loader, e, device, train=False)[1:]
        decoder.requires_grad_(True)
    ours_train, naive_train, ours_fit, naive_fit = (
        n / statistics.median(seconds[k]) for k in ("ours_train", "naive_train", "ours_fit", "naive_fit"))
    bound = bound_n / statistics.median(seconds["bound"])

    results = {
        "machine": machine(device), "precision": cfg.precision, "quick": args.quick, "n": n, "epochs": e,
        "warmup_epochs": 1, "rounds": args.rounds,
        "batch_sizes": {"ours_train": cfg.train.batch_size, "bound": cfg.train.batch_size,
                        "ours_fit": cfg.fit.batch_size, "naive": 64},
        "train": {"ours_images_per_s": round(ours_train, 1), "naive_images_per_s": round(naive_train, 1),
                  "speedup": round(ours_train / naive_train, 2)},
        "bound": {"bound_images_per_s": round(bound, 1), "ours_fraction": round(ours_train / bound, 3)},
        "fit": {"ours_images_per_s": round(ours_fit, 1), "naive_images_per_s": round(naive_fit, 1),
                "speedup": round(ours_fit / naive_fit, 2)},
        "roofline": roofline(cfg, device, naive_train),
        "ideas": "not run (pass --ideas)",
        "time_to_quality": "not run (pass --time-to-quality)",
        "dvc_noop_seconds": "not run (pass --dvc-noop)",
    }
    if args.ideas:
        results["ideas"] = ideas(cfg, n, e, device)
    if args.time_to_quality:
        if args.quick:  # exercise the code path only; the numbers mean nothing
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=2),
                                      fit=dataclasses.replace(cfg.fit, epochs=2),
                                      data=dataclasses.replace(cfg.data, n_train=n, n_test=n))
        results["time_to_quality"] = time_to_quality(cfg, train, load_split(root, "test", verify_md5=False),
                                                     device, 1 / naive_train, 1 / naive_fit, args.quick)
    if args.dvc_noop:
        results["dvc_noop_seconds"] = dvc_noop()

    table = markdown(results)
    json_path, md_path = output_paths(args.out, results["machine"])
    write_json(json_path, results)
    write_text(md_path, table)
    print(table, end="")
    print(f"wrote {json_path} and {md_path.name}")


def machine_slug(m: dict) -> str:
    """A short folder-name form of the device: `h200` for an NVIDIA H200, `amd-epyc` for an AMD EPYC CPU."""
    name = (m.get("gpu") or m.get("cpu_model") or "unknown").lower()
    name = re.sub(r"\((r|tm)\)|\bnvidia\b|\bprocessor\b|\bcpu\b", " ", name)
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "unknown"


def output_paths(out: str | None, m: dict, today: str | None = None) -> tuple[Path, Path]:
    """(results.json, results.md): `out` as a folder, a `.json` file name, or None for the dated default folder."""
    if out is None:
        day = today or time.strftime("%Y-%m-%d")
        out = ROOT / "benchmarks" / "runs" / f"{day}-{machine_slug(m)}-bench"
    out = Path(out)
    if out.suffix == ".json":
        return out, out.with_suffix(".md")
    return out / "results.json", out / "results.md"


def markdown(r):
    m, t, b, f, q = r["machine"], r["train"], r["bound"], r["fit"], r["time_to_quality"]
    rows = [
        f"Machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['torch_threads']} torch threads, device {m['device']}"
        f"{' (' + m['gpu'] + ')' if m['gpu'] else ''}, torch {m['torch']}. N={r['n']}, {r['rounds']} interleaved rounds of "
        f"{r['epochs']} epochs (the first of each is warm-up), batch sizes {r['batch_sizes']}{', QUICK smoke test' if r['quick'] else ''}.",
        "",
        # hand-built: a blank cell here is "| |", as in the committed results (infra.markdown.table writes "|  |")
        "| measurement | ours | reference | ratio |",
        "|---|---|---|---|",
        f"| training, images/s vs naive | {t['ours_images_per_s']} | {t['naive_images_per_s']} | {t['speedup']}x |",
        f"| training, images/s vs compute bound | {t['ours_images_per_s']} | {b['bound_images_per_s']} | "
        f"{b['ours_fraction']} |",
        f"| fitting, images/s vs naive | {f['ours_images_per_s']} | {f['naive_images_per_s']} | {f['speedup']}x |",
    ]
    if isinstance(q, dict):
        rows.append(f"| time to quality, s (ours: test course_loss {q['ours_test_course_loss']}) | "
                    f"{q['ours_seconds']} | {q['naive_recipe_seconds_estimated']} (750+500 epochs, est.) | "
                    f"{q['speedup']}x |")
        warm, cold = q["fit"]["nearest"], q["fit"]["random"]
        fmt = lambda v: "not reached" if v is None else v  # noqa: E731
        ratio = (f"{cold['seconds_to_within_1pct'] / warm['seconds_to_within_1pct']:.2f}x"
                 if warm["seconds_to_within_1pct"] and cold["seconds_to_within_1pct"] else "")
        rows.append(f"| fitting the test images to within 1% of the converged loss ({q['fit_target_loss']}), s: "
                    f"warm start ({warm['epochs']} epochs, test course_loss {warm['test_course_loss']}) vs random "
                    f"start ({cold['epochs']} epochs, {cold['test_course_loss']}) | "
                    f"{fmt(warm['seconds_to_within_1pct'])} | {fmt(cold['seconds_to_within_1pct'])} | {ratio} |")
    else:
        rows.append(f"| time to quality | {q} | | |")
    rows.append(f"| no-op `dvc repro`, s | {r['dvc_noop_seconds']} | | |")
    c = r["roofline"]
    rows += ["", f"Roofline: training costs {c['train_mflop_per_image']} MFLOP per image (forward + backward, counted by "
             f"torch's FlopCounterMode); a 2048x2048 matmul runs at {c['matmul_peak_gflops']} GFLOP/s here, so no loop "
             f"can train faster than {c['ceiling_images_per_s']} images/s = {c['ceiling_vs_naive']}x the naive loop "
             f"(which already runs at {c['naive_gflops']} GFLOP/s)."]
    if isinstance(r["ideas"], dict):
        i = r["ideas"]
        rows += ["", f"Speed ideas, each against our default step on one resident batch (train: "
                 f"{i['default_train_images_per_s']} images/s, fit: {i['default_fit_images_per_s']} images/s):", "",
                 *table(("idea", "mode", "images/s", "vs default"),
                        ([x["idea"], x["mode"], x["images_per_s"], x["vs_default"]] for x in i["rows"]))]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()
