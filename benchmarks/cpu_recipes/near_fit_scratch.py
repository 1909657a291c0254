"""Scratch: fit test images from the nearest train code at various lr on the committed models; test loss and 5-NN."""
import dataclasses, json, sys, time
import torch
from sklearn.neighbors import KNeighborsClassifier
from vadlib.infra.config import load_params
from vadlib.workflows.checkpoint import load_decoder
from vadlib.workflows.fit import fit_latents
from vadlib.workflows.metrics import reconstruction_metrics
from vadlib.core.distributions import get_distribution
from vadlib.core.models import decode_images
cfg = load_params("params.yaml")
tr = torch.load("data/prepared/train.pt", weights_only=True); te = torch.load("data/prepared/test.pt", weights_only=True)
dev = torch.device("cpu")
variants = sys.argv[1].split(","); settings = [s.split(":") for s in sys.argv[2:]]  # init:lr:epochs
for v in variants:
    m = torch.load(f"models/{v}.pt", weights_only=True); dec = load_decoder(m, dev); d = get_distribution(m["distribution"])
    A = d.mean(m["latents"]).double().numpy()
    for init, lr, ep in settings:
        fit = dataclasses.replace(cfg.fit, init=init, lr=float(lr), epochs=int(ep))
        t = time.time()
        p, h = fit_latents(dec, cfg.variant(v), fit, te["images"], cfg.seed, f"fit/test/{v}", progress=False, train_params=m["latents"])
        loss = reconstruction_metrics(te["images"], decode_images(dec, d.mean(p)), 64)["course_loss"]
        T = d.mean(p).double().numpy()
        knn = KNeighborsClassifier(5).fit(A, tr["labels"]).score(T, te["labels"])
        print(json.dumps({"v": v, "init": init, "lr": lr, "epochs": ep, "test": round(loss, 5), "knn": knn, "s": round(time.time() - t)}), flush=True)
