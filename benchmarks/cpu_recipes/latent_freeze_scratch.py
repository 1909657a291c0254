"""Scratch: the latents' lr decays (cosine) over the first LE epochs only; decoder schedule unchanged."""
import os, sys, runpy, torch
import vadlib.workflows.train as T
from vadlib.core.optimize import lr_lambda
LE = int(os.environ["LATENT_EPOCHS"])
orig = T.build_loop
def build_loop(cfg, variant, train_data, device, world=T.SINGLE):
    loop = orig(cfg, variant, train_data, device, world)
    spe = -(-train_data["images"].shape[0] // cfg.train.batch_size)
    loop.schedulers[1] = torch.optim.lr_scheduler.LambdaLR(loop.optimizers[1], lr_lambda(LE * spe, "cosine"))
    return loop
T.build_loop = build_loop
sys.argv = ["cluster_train.py", *sys.argv[1:]]
runpy.run_path("benchmarks/cpu_recipes/cluster_train_scratch.py", run_name="__main__")
