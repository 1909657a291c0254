"""The model and its optimisation: distributions, samplers, images, latent tables, decoder, objective, the loop."""
