"""One module per DVC stage (its `stage` function is what `stages/<name>.py` calls), every artifact path
(`artifacts`) and the readers of models and fitted codes (`checkpoint`)."""
