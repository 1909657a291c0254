import sys, torch, sklearn.mixture as skm
from vadlib.core.samplers import get_sampler
from vadlib.infra import paths
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.workflows.checkpoint import load_trained
from vadlib.workflows.evaluator import load_evaluator, to_unit
from vadlib.workflows.generation import draw_images
from vadlib.workflows.quality import reference_set, sample_quality
torch.set_num_threads(2)
cfg = load_params("params.yaml"); dev = torch.device("cpu")
ev, _ = load_evaluator(paths.EVALUATOR, dev)
test = to_unit(load_prepared(paths.TEST_DATA)["images"]); train = to_unit(load_prepared(paths.TRAIN_DATA)["images"])
ref = reference_set(ev, test, train, 1000)
Orig = skm.GaussianMixture
for variant in sys.argv[1].split(","):
    tr = load_trained(paths.model(variant), dev)
    for name, kw in [("default", {}), ("n_init=5", {"n_init": 5}), ("k-means++", {"init_params": "k-means++"})]:
        skm.GaussianMixture = lambda *a, _kw=kw, **k: Orig(*a, **{**k, **_kw})
        s = get_sampler("gmm").fit(tr.dist, tr.train_params, cfg.samplers, cfg.seed)
        r = sample_quality(ev, draw_images(s, tr.decoder, 1000, cfg.seed, f"{variant}/gmm"), ref, cfg.quality, cfg.seed)
        print(variant, name, f"FD {r['fd']:.2f} rec {r['recognisable']:.3f} min {r['min_class_share']:.3f} nn {r['nn_train_ratio']:.3f}", flush=True)
