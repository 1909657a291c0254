"""Scores as functions of tensors: reconstruction, latent probes, sample quality, generation, the evaluator
network (the instrument) and the statistics of comparisons. No files, no prose."""
