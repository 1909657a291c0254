"""Scratch: train one variant with overrides, save the model, fit test (default recipe), print loss/knn/cv."""
import json, sys, time
from pathlib import Path
import torch, yaml
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from vadlib.infra.config import parse_params
from vadlib.infra.data import load_prepared
from vadlib.infra import paths
from vadlib.workflows.proxy import apply_override, fit_and_score
from vadlib.workflows.train import train_variant
from vadlib.core.distributions import get_distribution
variant, out, *settings = sys.argv[1:]
raw = yaml.safe_load(Path("params.yaml").read_text())
for s in settings: apply_override(raw, s)
cfg = parse_params(raw)
tr, te = load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA)
dev = torch.device("cpu"); t0 = time.time()
model, _ = train_variant(cfg, variant, tr, dev, progress=False)
torch.save(model, out)
sc = fit_and_score(model, cfg, variant, tr, te["images"], dev, test_labels=te["labels"])
torch.save(sc["test_params"], out.replace(".pt", "_test.pt"))
d = get_distribution(model["distribution"]); A = d.mean(model["latents"]).double().numpy()
print(json.dumps({"variant": variant, "settings": settings, "test": round(sc["test_course_loss"], 5),
  "train": round(sc["train_course_loss"], 5), "knn": sc["knn_accuracy"],
  "cv_train": round(cross_val_score(KNeighborsClassifier(5), A, tr["labels"].numpy(), cv=5).mean(), 3),
  "s": round(time.time() - t0)}), flush=True)
