"""vadlib: auto-decoders and variational auto-decoders on Fashion-MNIST, one layer per subpackage.

- `core`: the model and its optimisation, knowing nothing of files or DVC: latent `distributions` (one registered
  class per family; the AD is the point-mass member), per-image parameter tables (`latents`), the decoder
  (`models`), the loss (`objective`) and the minibatch loop shared by training and fitting (`optimize`).
- `workflows`: one routine per pipeline step, built from core: `train`, `fit`, `checkpoint` (reading a trained model
  back), `evaluate` with its `metrics`, `tsne`, `render`, `report`, and `proxy` (train + fit + score, for tuning).
- `infra`: what every step needs around the computation: the params schema (`config`), Fashion-MNIST files
  (`data`), atomic output and safe loading (`io`), `errors`, stage plumbing (`cli`), output locations (`paths`),
  device, precision and seeded random streams (`runtime`), multi-process training's ranks and collectives
  (`distributed`), and matplotlib `figures`.

`stages/` holds one thin script per DVC stage that calls into `workflows`. This package imports nothing itself, so
importing one module never pulls in torch or scikit-learn for another.
"""
