"""Scratch: k-NN of test images against the train codes' decodes (pixel distance), the neighbourhood the nearest
start and pixel-space fitting see; compared with raw-pixel k-NN and the committed code probe."""
import json, sys, torch
from sklearn.neighbors import KNeighborsClassifier
from vadlib.workflows.checkpoint import load_trained
from vadlib.core.models import decode_images
tr = torch.load("data/prepared/train.pt", weights_only=True); te = torch.load("data/prepared/test.pt", weights_only=True)
ytr, yte = tr["labels"].numpy(), te["labels"].numpy()
X, Xt = tr["images"].flatten(1).double().div(255).numpy(), te["images"].flatten(1).double().div(255).numpy()
for k in (1, 5):
    print(json.dumps({"raw_pixels": k, "acc": KNeighborsClassifier(k).fit(X, ytr).score(Xt, yte)}))
for v in sys.argv[1].split(","):
    t = load_trained(f"models/{v}.pt" if not v.endswith(".pt") else v, torch.device("cpu"))
    D = decode_images(t.decoder, t.dist.mean(t.train_params)).flatten(1).double().numpy()
    row = {"model": v}
    for k in (1, 5):
        row[f"decode_{k}nn"] = KNeighborsClassifier(k).fit(D, ytr).score(Xt, yte)
    print(json.dumps(row), flush=True)
