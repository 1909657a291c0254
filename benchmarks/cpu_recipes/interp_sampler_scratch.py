import sys, torch
from vadlib.core.samplers import Sampler, get_sampler, _means
from vadlib.infra import paths
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.workflows.checkpoint import load_trained
from vadlib.workflows.evaluator import held_out_images, load_evaluator, to_unit
from vadlib.workflows.generation import draw_images
from vadlib.workflows.quality import reference_set, sample_quality
torch.set_num_threads(2)

class Interp(Sampler):
    name = "interp"
    def __init__(self, k, lo, hi, mode="seg"):
        self.k, self.lo, self.hi, self.mode = k, lo, hi, mode
    def fit(self, dist, params, cfg, seed):
        super().fit(dist, params, cfg, seed)
        self.means = _means(dist, params)
        d = torch.cdist(self.means, self.means)
        d.fill_diagonal_(float("inf"))
        self.nbrs = d.topk(self.k, largest=False).indices
        return self
    def sample(self, n, g):
        i = torch.randint(len(self.means), (n,), generator=g)
        j = self.nbrs[i, torch.randint(self.k, (n,), generator=g)]
        lam = self.lo + (self.hi - self.lo) * torch.rand(n, 1, generator=g, dtype=torch.float64)
        return (self.means[i] + lam * (self.means[j] - self.means[i])).float()

cfg = load_params("params.yaml")
dev = torch.device("cpu")
ev, val_rows = load_evaluator(paths.EVALUATOR, dev)
test = to_unit(load_prepared(paths.TEST_DATA)["images"]); train = to_unit(load_prepared(paths.TRAIN_DATA)["images"])
ref = reference_set(ev, test, train, cfg.quality.n_samples)
settings = [(int(a), float(b), float(c)) for a, b, c in (s.split(":") for s in sys.argv[2:])]
for variant in sys.argv[1].split(","):
    tr = load_trained(paths.model(variant), dev)
    rows = [("gmm", get_sampler("gmm").fit(tr.dist, tr.train_params, cfg.samplers, cfg.seed))]
    rows += [(f"interp k{k} [{lo},{hi}]", Interp(k, lo, hi).fit(tr.dist, tr.train_params, cfg.samplers, cfg.seed)) for k, lo, hi in settings]
    for name, s in rows:
        fake = draw_images(s, tr.decoder, 1000, cfg.seed, f"{variant}/x")
        r = sample_quality(ev, fake, ref, cfg.quality, cfg.seed)
        print(variant, name, f"FD {r['fd']:.2f} rec {r['recognisable']:.3f} min {r['min_class_share']:.3f} nn {r['nn_train_ratio']:.3f}", flush=True)
