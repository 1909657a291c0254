# Two entry points: `make repro` (the whole pipeline, pulled where the DVC remote has it) and `make test`. Every
# target creates and fills .venv when missing, pinned by constraints.txt; the install reruns only when pyproject.toml
# or constraints.txt changes.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro push pull test test-fast demo full-scale bench plots views
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[test]'
	touch $@

# Pulls what the default DVC remote holds (outputs and run-cache), then `dvc repro` runs only what is still missing;
# an absent remote or missing objects stop nothing. `prepare` finds or fetches the data (docs/setup.md).
repro: setup
	$(PY) scripts/repro.py

# The committed results and DVC's run-cache to / from the default remote (.dvc/config; docs/setup.md).
push: setup
	dvc push --run-cache

pull: setup
	dvc pull --run-cache

# Both targets run on TEST_JOBS pytest-xdist workers (`make test TEST_JOBS=0`: one process). --dist loadfile keeps a
# test file on one worker, in order: the end-to-end tests share one module-scoped pipeline run and build on it.
TEST_JOBS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile

test: setup
	bash tools/plots/install_chromium.sh
	$(PYTEST) --durations=15

# The inner loop: everything but the slow (end-to-end, distributed, subprocess) and browser tests.
test-fast: setup
	$(PYTEST) -m "not slow and not browser" --durations=10

# The whole pipeline on a small config in a scratch copy (default /tmp/vadlib-demo); the project's results stay.
demo: setup
	$(PY) scripts/demo.py

# 60,000 / 10,000 images as the DVC experiment `full-scale`, then reports/full_scale.md. Refuses a CPU-only machine
# (about half a day) unless FULL_SCALE_ARGS=--allow-cpu.
full-scale: setup
	$(PY) scripts/full_scale.py run $(FULL_SCALE_ARGS)
	$(PY) scripts/full_scale.py report

bench: setup
	$(PY) benchmarks/bench.py

plots: setup
	dvc plots show --open || true

views: setup
	$(PY) scripts/views.py
