#!/usr/bin/env bash
# Issue 17's GPU check in one command, on the GPU machine (no package index there):
#   scripts/gpu-check.sh [bench/gpu_check.py options]        # e.g. --only methods,backends --budget-s 300
#   scripts/gpu-check.sh --device cpu --tiny                 # the CPU dry run (any machine with the CPU set-up)
# Before: scripts/gpu-wheels.sh on a machine with PyPI (fills .whl/, git-ignored), then carry .whl to the machine.
# The wheels are installed into .whl/site (pip --no-index --no-deps --target: the image's torch is left alone) and
# the project runs from this checkout (PYTHONPATH; no editable install: that would need setuptools and an index).
# Writes gpu_check.json and gpu_check.md to $OUT (else runs/gpu_check/<time>) and prints the table last.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
  SITE=.whl/site
  if [[ ! -f "$SITE/.installed" ]]; then
    "$PY" -m pip install --quiet --no-index --no-deps --disable-pip-version-check --target "$SITE" .whl/*.whl
    touch "$SITE/.installed"
  fi
  export PYTHONPATH="$PWD:$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
else
  echo "gpu-check: no wheels in .whl/ (scripts/gpu-wheels.sh): using the installed packages" >&2
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
export PYTHONUNBUFFERED=1
"$PY" -c 'import torch, hydra, omegaconf, spikingjelly; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
exec "$PY" bench/gpu_check.py "$@"
