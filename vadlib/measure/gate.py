"""The no-copy gate, stated once: a sampler counts as a generator only if its samples' mean distance to the nearest
training image (evaluator features) is at least this multiple of the real test images'. Torch-free, so the report
stage and the study tables read it without importing the samplers."""

NOT_A_COPY = 0.9
