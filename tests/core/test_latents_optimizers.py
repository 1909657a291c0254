"""The codes' optimisers: SparseAdam moves only a batch's rows; dense Adam (the original recipe's) keeps moving rows
between their batches, through their moments."""
import torch

from vadlib.core.latents import latent_optimizer


def _two_steps(name):
    table, opt = latent_optimizer(name, torch.zeros(3, 2), torch.device("cpu"), lr=0.1)
    for rows in (torch.tensor([0]), torch.tensor([1])):  # row 0 in the first batch only
        opt.zero_grad()
        table(rows).sum().backward()
        opt.step()
    return table.weight.detach()


def test_sparse_adam_leaves_rows_outside_the_batch_and_dense_adam_moves_them():
    sparse, dense = _two_steps("sparse_adam"), _two_steps("adam")
    assert torch.allclose(sparse[0], torch.full((2,), -0.1))  # moved once (Adam: lr x sign), at its own step
    assert (dense[0] < sparse[0]).all()  # moved again by its momentum while row 1 was the batch
    assert torch.equal(sparse[2], torch.zeros(2)) and torch.equal(dense[2], torch.zeros(2))  # never a gradient
