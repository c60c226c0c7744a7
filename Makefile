# Two commands for a new user: `make demo` and `make test`. Every target depends on the
# virtual environment, which is created (with the machine's python3) on first use and
# reinstalled from the lock (requirements/lock.txt) when it or pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
# nbgrader runs `alembic` from PATH: the venv's bin must come first.
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg
# The course's matrices are small: one BLAS thread per process is faster than several
# fighting over 2 cores (measured: digits training 3.2 s single-threaded, 13.7 s threaded
# under load). The grading sandbox sets the same for student kernels.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
# explorers (lib.explorers) draw static figures when notebooks run headless (tests, CI)
export COURSE_STATIC_PLOTS := 1

.PHONY: demo test test-fast lint lock bench release check lab lab-edit lab-student clean

# The exact versions everything is installed at (uv's resolution of pyproject.toml; `make lock`
# writes them): LOCK for the course, its tests and the Dask cluster (what this Makefile
# installs), COMPARE_LOCK adds the compare extra (torch, scikit-learn: what .ci/run adds),
# STUDENT_REQS is what a student installs (course publish copies it).
LOCK         := requirements/lock.txt
COMPARE_LOCK := requirements/compare.txt
STUDENT_REQS := requirements/student.txt

$(STAMP): pyproject.toml $(LOCK)
	@# bubblewrap sandboxes student code when grading; installed where this machine allows
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap \
	      || echo "note: could not install bubblewrap"; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      bubblewrap || echo "note: could not install bubblewrap"; \
	  else \
	    echo "note: bubblewrap is not installed and cannot be installed here: grading runs"; \
	    echo "      unsandboxed (flagged) and the tests that need the sandbox are skipped"; \
	  fi; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Refresh the lock files after a change of pyproject.toml or requirements/student.in: uv keeps
# every version it can and resolves what changed. `make lock UPGRADE=1` moves everything to
# the newest versions pyproject.toml allows. Resolved for every platform (--universal) at
# Python 3.11. The CUDA libraries of PyPI's Linux torch are left out of COMPARE_LOCK: pip adds
# them where torch needs them, and CI's torch is the CPU build (pyproject.toml).
UV_VERSION := 0.13.9
CUDA_PACKAGES := cuda-bindings cuda-pathfinder cuda-toolkit nvidia-cublas nvidia-cuda-cupti \
  nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile \
  nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-nccl-cu13 \
  nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx triton
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) pyproject.toml --extra test --extra cluster -o $(LOCK)
	$(UV_COMPILE) pyproject.toml --extra test --extra cluster --extra compare -c $(LOCK) \
	  $(addprefix --no-emit-package=,$(CUDA_PACKAGES)) -o $(COMPARE_LOCK)
	$(UV_COMPILE) requirements/student.in -c $(LOCK) -o $(STUDENT_REQS)

demo: $(STAMP)
	$(BIN)/course demo

# Unit tests, the grading pipeline, and every source notebook executed once for the course
# check and tests/test_notebooks.py (errors, stderr, plots; the nbgrader metadata is read from
# the source). Two workers, one per core; `--dist loadgroup` as tests/conftest.py defines it:
# a file's tests stay on one worker, except in the slowest files, whose tests (those sharing a
# fixture together) are spread, the longest first. `make test-fast` leaves out the tests
# marked slow. PYTEST_ARGS are passed on: `make test PYTEST_ARGS=--durations=25` says where
# the time goes.
PYTEST_ARGS ?=
test: $(STAMP) lint
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS) tests

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow" tests

# ruff, and the import contracts of the course package (.importlinter: the layers of
# course/ point one way; docs/design-notes.md)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

release: $(STAMP)
	$(BIN)/course release --no-gradebook

check: $(STAMP)
	$(BIN)/course check

clean:
	rm -rf work .pytest_cache .ruff_cache

# JupyterLab 4 with nbgrader's extensions, for the instructor (the user's own Jupyter settings
# plus work/lab/<kind>/, JUPYTER_CONFIG_PATH: no "Jupyter news" prompt).
# `make lab`: formgrader on a term's course root COURSE (default: the term `make demo` ran),
# started in it, so that nbgrader reads that root's nbgrader_config.py (its exchange) and
# gradebook.db (its students, submissions, due dates). A folder without a gradebook has no
# term: formgrader would show nothing and create an empty gradebook there, so it is refused.
# `make lab-edit`: JupyterLab on the repository, for editing source/ and lib/ (Create
# Assignment, Validate), without formgrader.
# LAB_ARGS: more options for jupyter lab (e.g. --no-browser --port=8890).
# (Jupyter refuses to run as root without --allow-root: containers, CI.)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
COURSE ?= work/demo/course
LAB_ARGS ?=
INSTRUCTOR_CONFIG = $(BIN)/python -c 'import sys; from course.commands.demo_students import \
  instructor_jupyter_config as c; c(sys.argv[1], formgrader=sys.argv[2] == "1")'
lab: $(STAMP)
	@test -f $(COURSE)/nbgrader_config.py -a -f $(COURSE)/gradebook.db || { \
	  echo "no term in $(COURSE) (it needs nbgrader_config.py and gradebook.db): run"; \
	  echo "'make demo' for the demo's term, or 'make lab COURSE=<your course root>'"; exit 1; }
	@$(INSTRUCTOR_CONFIG) $(abspath work/lab/grade) 1
	cd $(COURSE) && env -u COURSE_STATIC_PLOTS \
	  JUPYTER_CONFIG_PATH=$(abspath work/lab/grade)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  $(BIN)/jupyter lab --notebook-dir=. $(ALLOW_ROOT) $(LAB_ARGS)

lab-edit: $(STAMP)
	@$(INSTRUCTOR_CONFIG) $(abspath work/lab/edit) 0
	env -u COURSE_STATIC_PLOTS \
	  JUPYTER_CONFIG_PATH=$(abspath work/lab/edit)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  $(BIN)/jupyter lab --notebook-dir=. $(ALLOW_ROOT) $(LAB_ARGS)

# Students: JupyterLab as a student of the term `make demo` ran (STUDENT=ada, ben, cy, dee,
# eve, or you: one who has not started), in their home work/demo/students/$(STUDENT) with
# their own Jupyter configuration: Assignment List (fetch, validate, submit, fetch feedback)
# on the demo's exchange, and no formgrader or Create Assignment. Started in the home: nbgrader
# reads nbgrader_config.py of the folder a lab starts in (the repository's is the instructor's).
STUDENT ?= ada
STUDENT_HOME := work/demo/students/$(STUDENT)
lab-student: $(STAMP)
	@test -f $(STUDENT_HOME)/.jupyter/nbgrader_config.py || { \
	  echo "no student $(STUDENT) in work/demo/students: run 'make demo' first"; exit 1; }
	cd $(STUDENT_HOME) && env -u COURSE_STATIC_PLOTS \
	  JUPYTER_CONFIG_DIR=$(abspath $(STUDENT_HOME))/.jupyter $(BIN)/jupyter lab $(ALLOW_ROOT) \
	  $(LAB_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_notebooks.py
	$(BIN)/python benchmarks/bench_grading.py
	$(BIN)/python benchmarks/bench_serve.py
