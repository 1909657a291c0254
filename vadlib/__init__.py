"""vadlib: auto-decoders and variational auto-decoders on Fashion-MNIST, in five layers; a layer imports only the
layers before it (infra < core < measure < pipeline < studies; tests/tooling/test_layers.py enforces it).

- `infra`: what every layer needs around the computation, knowing nothing of models: the params schema (`config`,
  no torch), Fashion-MNIST files (`data`), atomic output and safe loading (`io`), `errors`, entry-point plumbing
  (`cli`, `overrides`: the one `--set key=value` grammar), device, precision and seeded random streams (`runtime`),
  multi-process ranks (`distributed`), committed CSV tables (`tables`), `markdown` and matplotlib `figures`.
- `core`: the model and its optimisation, knowing nothing of files or DVC: latent `distributions` (one registered
  class per family; the AD is the point-mass member), `samplers` (one registered class each), `images`, per-image
  parameter tables (`latents`), the decoder (`models`), the loss (`objective`) and the shared loop (`optimize`).
- `measure`: scores as functions of tensors: `reconstruction` (course_loss, MSE/PSNR, likelihoods), latent `probes`,
  `samples` (FD, KID, PRDC, the no-copy gate), `generation` (fit samplers, draw, choose the best), the `evaluator`
  network (the measuring instrument) and `comparisons` (the statistics that call a difference real).
- `pipeline`: one module per DVC stage (`prepare`, `evaluator`, `train`, `fit`, `evaluate`, `tsne`, `render`,
  `report`, `compare`), each with a `stage(cfg[, variant])` that `stages/<name>.py` calls; `artifacts` names every
  file the stages read and write; `checkpoint` reads models and codes back.
- `studies`: campaigns around the pipeline (the seed study and its `table` and `answer`, the Uniform ablation,
  tuning through `proxy`, ...), called by `scripts/study.py`.

This package imports nothing itself, so importing one module never pulls in torch or scikit-learn for another.
"""
