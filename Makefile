# Two commands for a newcomer: `make demo` and `make test`.
# Both create (or reuse) a virtual environment in .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The exact PyTorch build this project is tested with (x86_64, Python 3.11).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test docs docs-noplot bench clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[test,docs,examples,transfer]"
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/plot_digits_grid_search.py

test: $(VENV)/.installed
	$(PY) -m pytest -n 2 --durations=10
	$(MAKE) docs

# The gallery runs every example (sphinx-gallery reruns only changed ones);
# the time each took is printed from docs/sg_execution_times.rst.
docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -b html -q docs docs/_build/html
	@$(PY) -c "import re; t = open('docs/sg_execution_times.rst').read(); \
		[print(f'example {n}: {s} (min:s)') for n, s in re.findall(r'_auto_examples_(\S+?)\.py.*\n +- (\S+)', t)]"

# The site without running the examples, to check the text quickly.
docs-noplot: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -b html -q -D plot_gallery=0 docs docs/_build/html

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) docs/_build docs/generated
