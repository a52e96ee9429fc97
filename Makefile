# Two commands on a fresh machine with python3, pip and make:
#   make demo   installs everything and runs the main job on the local sandbox
#   make test   installs everything and runs the whole test suite
# Also: make bench (benchmarks), make soak (long fault soak), make docs (README settings tables)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
PLUGINS := .meltano/.plugins-stamp
# An editable install leaves our own modules uncompiled; a regular pip install compiles
# them. Compiled at every install, for the same reason as the plugin venvs below.
COMPILE_SOURCES := $(BIN)/python -m compileall -q tap_insightly target_webhook sdk_startup insightly_sandbox

.PHONY: install demo test bench soak docs clean

install: $(PLUGINS)
	@$(COMPILE_SOURCES)
	@# Also repairs venvs installed without bytecode (a plain `meltano install`, or the
	@# one `meltano run` makes for a missing plugin); quick when there is nothing to do.
	@for venv in .meltano/*/*/venv; do $$venv/bin/python -m compileall -q $$venv/lib >/dev/null || exit 1; done

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Meltano installs each plugin into its own venv under .meltano/ (with uv: seconds).
# uv writes no bytecode unless asked; without it every plugin start compiles the SDK
# from source where Python may not cache bytecode (PYTHONDONTWRITEBYTECODE, read-only
# venvs, as in many containers): about 1 CPU-second more per plugin per run.
$(PLUGINS): $(INSTALLED) meltano.yml
	UV_COMPILE_BYTECODE=1 $(BIN)/meltano install
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
