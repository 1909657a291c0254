# Two entry points: `make repro` (the whole pipeline) and `make test`. Both create and fill .venv when
# missing, pinned by constraints.txt; the install reruns only when pyproject.toml or constraints.txt changes.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test bench plots views
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[test]'
	touch $@

repro: setup
	dvc repro

test: setup
	bash tools/plots/install_chromium.sh
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench.py

plots: setup
	dvc plots show --open || true

views: setup
	$(PY) scripts/views.py
