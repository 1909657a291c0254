"""Scratch: 5-NN probe of test codes under several views of the same codes (committed models)."""
import json, sys, time
import numpy as np, torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler
from vadlib.infra.config import load_params
from vadlib.workflows.checkpoint import load_trained, load_fitted
from vadlib.workflows.fit import fit_latents
cfg = load_params("params.yaml")
tr = torch.load("data/prepared/train.pt", weights_only=True); te = torch.load("data/prepared/test.pt", weights_only=True)
ytr, yte = tr["labels"].numpy(), te["labels"].numpy()
def knn(a, b, k=5, metric="euclidean"):
    return KNeighborsClassifier(k, metric=metric).fit(a, ytr).score(b, yte)
for v in sys.argv[1].split(","):
    t = load_trained(f"models/{v}.pt", torch.device("cpu")); d = t.dist
    A = d.mean(t.train_params).double().numpy(); T = d.mean(load_fitted(f"data/fitted/{v}.pt")["test"]).double().numpy()
    s = StandardScaler().fit(A)
    out = {"v": v, "base": knn(A, T), "std": knn(s.transform(A), s.transform(T)),
           "cv_train": cross_val_score(KNeighborsClassifier(5), A, ytr, cv=5).mean(),
           "cv_test": cross_val_score(KNeighborsClassifier(5), T, yte, cv=5).mean(),
           "dist_train_to_center": float(np.linalg.norm(A - A.mean(0), axis=1).mean()),
           "dist_test_to_center": float(np.linalg.norm(T - A.mean(0), axis=1).mean())}
    print(json.dumps(out), flush=True)
    st = time.time()
    p, _ = fit_latents(t.decoder, cfg.variant(v), cfg.fit, tr["images"], cfg.seed, f"fit/train_refit/{v}", progress=False,
                       train_params=t.train_params, exclude_self=True)
    R = d.mean(p).double().numpy()
    print(json.dumps({"v": v, "refit_train_to_test": knn(R, T), "refit_cv": cross_val_score(KNeighborsClassifier(5), R, ytr, cv=5).mean(),
                      "s": round(time.time() - st)}), flush=True)
