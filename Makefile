# Two commands on a fresh machine with python3, pip and make:
#   make demo   installs everything and runs the main job on the local sandbox
#   make test   installs everything and runs the whole test suite
# Also: make bench (benchmarks), make soak (long fault soak), make docs (README settings tables)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
PLUGINS := .meltano/.plugins-stamp

.PHONY: install demo test bench soak docs clean

install: $(PLUGINS)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Meltano installs each plugin into its own venv under .meltano/ (with uv: seconds).
$(PLUGINS): $(INSTALLED) meltano.yml
	$(BIN)/meltano install
	touch $@

demo: install
	$(BIN)/python -m demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks.run

soak: install
	$(BIN)/python -m pytest tests/faults/test_scenarios.py -m slow $(PYTEST_ARGS)

docs: install
	$(BIN)/python -m demo.settings_docs --write

clean:
	rm -rf $(VENV) .meltano *.egg-info
