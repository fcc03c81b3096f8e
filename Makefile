# Two entry points: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup system-deps demo test lint bench clean

system-deps:
	@missing=""; \
	command -v fpcalc >/dev/null 2>&1 || missing="$$missing libchromaprint-tools"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: system-deps $(VENV)/.installed

demo: setup
	$(BIN)/python tools/demo.py

test: setup
	$(BIN)/ruff check beetsplug tests tools bench
	$(BIN)/python -m pytest -q -n auto

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .cache demo-out
