import torch, numpy as np
from sklearn.mixture import GaussianMixture
from vadlib.infra import paths
from vadlib.infra.runtime import derive_seed
from vadlib.workflows.checkpoint import load_trained
torch.set_num_threads(1)
for v in ["ad", "normal"]:
    tr = load_trained(paths.model(v), torch.device("cpu"))
    x = tr.dist.mean(tr.train_params.double()).numpy(); y = tr.labels.numpy()
    g = GaussianMixture(100, covariance_type="full", reg_covar=1e-4, random_state=derive_seed(0, "samplers/gmm") % 2**32).fit(x)
    comp = g.predict(x)
    impure_codes = 0; mixed = 0
    for c in np.unique(comp):
        ys = y[comp == c]; maj = np.bincount(ys).max()
        impure_codes += len(ys) - maj; mixed += (maj < len(ys))
    # weight of components with >1 class
    print(v, "components used", len(np.unique(comp)), "mixed-class components", mixed, "codes outside their component's majority class", impure_codes / len(y))
