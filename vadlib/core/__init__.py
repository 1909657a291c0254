"""The model and its optimisation: distributions, latent tables, decoder, objective, the shared loop."""
