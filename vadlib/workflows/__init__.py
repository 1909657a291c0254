"""One routine per pipeline step (train, fit, evaluate, t-SNE, render, report), built from `core`."""
