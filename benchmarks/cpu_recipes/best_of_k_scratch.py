import sys, time, json, dataclasses, torch
from vadlib.infra import paths
from vadlib.infra.config import load_params
from vadlib.infra.data import load_prepared
from vadlib.workflows.checkpoint import load_trained
from vadlib.workflows.evaluate import split_metrics
from vadlib.workflows.probes import latent_quality
from vadlib.core.models import decode_images, images_to_device
from vadlib.core.latents import latent_table
from vadlib.core.optimize import Loop, lr_lambda
from vadlib.infra.runtime import generator, seed_everything
torch.set_num_threads(2)
cfg = load_params("params.yaml")
train, test = load_prepared(paths.TRAIN_DATA), load_prepared(paths.TEST_DATA)

def fit_from(dec, dist, beta, images, init, epochs, lr, purpose):
    table = latent_table(init, torch.device("cpu"))
    opt = torch.optim.SparseAdam(table.parameters(), lr=lr)
    steps = epochs * -(-images.shape[0] // cfg.fit.batch_size)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(steps, "cosine"))
    seed_everything(0, f"noise/{purpose}")
    Loop(dec, dist, table, images, beta, epochs, cfg.fit.batch_size, [opt], [sch], generator(0, f"shuffle/{purpose}"),
         train_decoder=False, label=purpose).run(progress=False)
    return table.weight.detach()

variant, k, e1, e2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tr = load_trained(sys.argv[5] if len(sys.argv) > 5 else paths.model(variant), torch.device("cpu"))
dec, dist, beta = tr.decoder, tr.dist, cfg.variant(variant).beta
imgs = images_to_device(test["images"], torch.device("cpu"))
t0 = time.perf_counter()
decoded = decode_images(dec, dist.mean(tr.train_params))
d = torch.cdist(imgs.flatten(1), decoded.flatten(1))
if k == 10:
    lab = train["labels"].long()
    nn_idx = torch.stack([torch.where(lab == c, d, torch.full_like(d, float('inf'))).argmin(1) for c in range(10)], 1)
else:
    nn_idx = d.topk(k, largest=False).indices  # [N, k]
init = tr.train_params[nn_idx.flatten()].clone()
rep = imgs.repeat_interleave(k, 0)
if e1 > 0 and k > 1:
    p1 = fit_from(dec, dist, beta, rep, init, e1, cfg.fit.lr, "s1")
    with torch.no_grad():
        rec = decode_images(dec, dist.mean(p1))
        err = (rec - rep).pow(2).flatten(1).sum(1).view(-1, k)
    best = err.argmin(1)
    start = p1.view(-1, k, p1.shape[1])[torch.arange(len(imgs)), best]
else:
    start = init.view(-1, k, init.shape[1])[:, 0]
p = fit_from(dec, dist, beta, imgs, start, e2, cfg.fit.lr, "s2")
sec = time.perf_counter() - t0
s = split_metrics(dec, dist, p, test["images"], 64)
pr = latent_quality(dist, tr.train_params, train["labels"], p, test["labels"], cfg.quality)
print(json.dumps(dict(variant=variant, k=k, e1=e1, e2=e2, test=round(s["course_loss"], 5), knn=pr["knn_accuracy"], sec=round(sec, 1))), flush=True)
