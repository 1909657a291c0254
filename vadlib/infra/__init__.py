"""Around the computation: params schema, data files, atomic I/O, errors, entry-point plumbing and the `--set`
grammar, runtime, distributed ranks, tables, markdown and figures. Imports no other part of vadlib."""
