#!/usr/bin/env bash
# Download the wheels the GPU machine lacks into .whl/ (git-ignored; carried to the machine by the device tool).
# The GPU image (issue 17) has Python 3.12, torch 2.11 + CUDA 13, torchvision, triton, cupy, numpy, matplotlib,
# tensorboard, scikit-learn, tqdm and pytest, and reaches no package index: everything else the suite imports
# comes from here. scripts/gpu-check.sh installs them with `pip install --no-index --no-deps --target`.
#   scripts/gpu-wheels.sh              # the suite's runtime needs (about 3 MiB)
#   WANDB=1 scripts/gpu-wheels.sh      # plus wandb and its dependencies (only if the carry stays under 64 MiB)
# Versions are those of the CPU set-up (pinned here: the GPU run must import what the tests ran against).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEST=.whl
PYVER=${GPU_PYTHON_VERSION:-3.12}
PLATFORM=${GPU_PLATFORM:-manylinux_2_28_x86_64}
mkdir -p "$DEST"

# pure-python wheels (py3-none-any)
PURE=(hydra-core==1.3.8 omegaconf==2.3.1 spikingjelly==2.0.0 loguru==0.7.3 submitit==1.5.4 cloudpickle==3.1.3
      hydra-submitit-launcher==1.2.0 filelock==4.3.1 packaging==26.4)
# compiled wheels for the GPU machine's interpreter (omegaconf needs PyYAML; the image has none)
BINARY=(PyYAML==6.0.4)
# antlr4-python3-runtime 4.9.3 (hydra-core 1.3 pins 4.9.*) exists on PyPI as a source archive only: built here
# into a pure-python wheel
SDIST=(antlr4-python3-runtime==4.9.3)
if [[ "${WANDB:-0}" == 1 ]]; then
  PURE+=(typing_extensions sentry-sdk click gitpython gitdb smmap platformdirs requests urllib3 idna certifi charset-normalizer
         annotated-types typing-inspection)
  BINARY+=(wandb pydantic pydantic-core protobuf psutil)
fi

common=(--no-deps --dest "$DEST" --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3
        --abi none --platform "$PLATFORM" --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
        --platform any --only-binary=:all: --quiet)
"$PY" -m pip download "${common[@]}" "${PURE[@]}" "${BINARY[@]}"
"$PY" -m pip wheel --no-deps --wheel-dir "$DEST" --quiet "${SDIST[@]}"

echo "wheels in $DEST:"
ls -1 "$DEST"/*.whl | sed 's/^/  /'
total=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
echo "total $(( total / 1024 )) KiB ($(awk "BEGIN{printf \"%.1f\", $total/1048576}") MiB); the carry limit is 64 MiB with the working tree"
