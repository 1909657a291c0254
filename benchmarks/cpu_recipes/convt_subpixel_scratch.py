import torch, time
import torch.nn.functional as F
torch.set_num_threads(2); torch.manual_seed(0)
ci, co, N, H = 128, 64, 64, 7
ref = torch.nn.ConvTranspose2d(ci, co, 4, 2, 1)
K = torch.tensor([[3, 1], [2, 0]])
def subpix_weight(w):  # w [ci, co, 4, 4] -> [4*co, ci, 2, 2]
    # idx: ry, rx, ty, tx
    wk = w[:, :, K[:, None, :, None], K[None, :, None, :]]  # [ci, co, 2(ry), 2(rx), 2(ty), 2(tx)]
    return wk.permute(2, 3, 1, 0, 4, 5).reshape(4 * w.shape[1], w.shape[0], 2, 2)
def subpix(x, w, b):
    n, _, h, wd = x.shape
    c = w.shape[1]
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), subpix_weight(w))  # [n, 4c, h+1, w+1]
    y = y.view(n, 2, 2, c, h + 1, wd + 1)
    phases = [[y[:, ry, rx, :, ry:ry + h, rx:rx + wd] for rx in range(2)] for ry in range(2)]
    out = torch.stack([torch.stack(r, -1) for r in phases], -3)  # [n, c, h, 2(ry), w, 2(rx)]
    return out.reshape(n, c, 2 * h, 2 * wd) + b.view(1, -1, 1, 1)
for (ci, co, H) in [(128, 64, 7), (64, 1, 14)]:
    ref = torch.nn.ConvTranspose2d(ci, co, 4, 2, 1)
    x = torch.randn(N, ci, H, H, requires_grad=True)
    a = ref(x); bb = subpix(x, ref.weight, ref.bias)
    print("maxdiff", (a - bb).abs().max().item())
    g = torch.randn_like(a)
    def run_ref():
        x.grad = None; ref.weight.grad = None
        ref(x).backward(g)
    def run_sub():
        x.grad = None; ref.weight.grad = None
        subpix(x, ref.weight, ref.bias).backward(g)
    def run_ref_f():
        with torch.no_grad(): ref(x)
    def run_sub_f():
        with torch.no_grad(): subpix(x, ref.weight, ref.bias)
    for name, fn in [("ref", run_ref), ("sub", run_sub), ("ref_f", run_ref_f), ("sub_f", run_sub_f)] * 2:
        for _ in range(5): fn()
        t = time.perf_counter()
        for _ in range(30): fn()
        print(ci, co, name, round((time.perf_counter() - t) / 30 * 1000, 2), "ms")
