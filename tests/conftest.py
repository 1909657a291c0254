import torch


def pytest_configure(config):
    torch.set_num_threads(1)  # tiny tensors: one thread avoids oversubscribing 2 cores
