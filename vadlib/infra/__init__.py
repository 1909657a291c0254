"""Around the computation: params schema, data files, atomic I/O, errors, stage plumbing, paths, runtime, figures."""
