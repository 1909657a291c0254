"""Scratch: does a decoder weight average (per-epoch EMA / SWA over the last epochs) lower test course_loss?"""
import copy, json, sys, time
import torch, yaml
from pathlib import Path
from vadlib.infra.config import parse_params
from vadlib.infra.data import load_split, select_subset
from vadlib.workflows.train import build_loop, model_file, fingerprint
from vadlib.workflows.proxy import fit_and_score

variant = sys.argv[1]; n_test = int(sys.argv[2]); flip = len(sys.argv) > 3 and sys.argv[3] == "flip"
raw = yaml.safe_load(Path("params.yaml").read_text())
for s in sys.argv[4:]:
    k, _, v = s.partition("="); *p, leaf = k.split("."); node = raw
    for q in p: node = node[q]
    node[leaf] = yaml.safe_load(v)
cfg = parse_params(raw)
root = cfg.data.resolved_root
(x, y), (xt, _) = load_split(root, "train"), load_split(root, "test")
idx = select_subset(y, cfg.data.n_train, cfg.data.subset, cfg.seed)
data = {"images": x[idx], "labels": y[idx], "indices": idx}
tdata = data
if flip:
    tdata = {"images": torch.cat([x[idx], x[idx].flip(-1)]), "labels": torch.cat([y[idx], y[idx]]),
             "indices": torch.cat([idx, idx + 100000])}
dev = torch.device("cpu")
t0 = time.time()
loop = build_loop(cfg, variant, tdata, dev)
decays = [0.8, 0.9, 0.95]
emas = {d: None for d in decays}
swa = {"n": 0, "sd": None}
E = cfg.train.epochs
def hook(lp):
    sd = {k: v.detach().clone().float() for k, v in lp.decoder.state_dict().items()}
    for d in decays:
        if emas[d] is None: emas[d] = sd
        else: emas[d] = {k: d * emas[d][k] + (1 - d) * sd[k] for k in sd}
    if lp.epoch > E - E // 4:
        swa["n"] += 1
        swa["sd"] = sd if swa["sd"] is None else {k: swa["sd"][k] + (sd[k] - swa["sd"][k]) / swa["n"] for k in sd}
loop.run(on_epoch_end=hook, progress=False)
print("train s", round(time.time() - t0), flush=True)
fp = fingerprint(cfg, variant, tdata["indices"])
model = model_file(cfg, variant, loop, fp, tdata["labels"], loop.table.weight.detach())
model["latents"] = model["latents"][:1000]
live = model["decoder"]
def cast(sd):
    return {k: v.to(live[k].dtype) for k, v in sd.items()}
cands = {"live": live, "swa_last25pct": cast(swa["sd"]), **{f"ema{d}": cast(emas[d]) for d in decays}}
import os
if os.environ.get("ONLY_LIVE"): cands = {"live": live}
for name, sd in cands.items():
    m = dict(model); m["decoder"] = sd
    s = fit_and_score(m, cfg, variant, data, xt[:n_test], dev)
    print(json.dumps({"variant": variant, "flip": flip, "extra": sys.argv[4:], "decoder": name, "test": round(s["test_course_loss"], 5),
                      "train": round(s["train_course_loss"], 5), "fit_s": round(s["fit_seconds"])}), flush=True)
