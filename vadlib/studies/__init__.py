"""Campaigns around the pipeline: a grid, a runner, a table and a report each (`scripts/study.py <campaign>`)."""
