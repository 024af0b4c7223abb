#!/usr/bin/env bash
# One-command, idempotent set-up of the pinned OpenMMLab stack in a venv.
#
#   VENV=.venv bash tools/install.sh
#
# mmcv 2.1.0 (the newest mmcv that mmdet 3.3.0 accepts) has no wheel for
# torch 2.14, so it is built from PyPI's source archive once per machine and
# the wheel is cached outside the repository, keyed by mmcv, torch, Python and
# CUDA/CPU. The first run takes ~15 min on 2 cores; later runs < 1 min.
#
# Seams for tests/test_install.py, which runs the mmcv build branch offline
# with a stand-in sdist (unset, the script does the real set-up):
#   SIMSIAM_MM_SKIP_PINS=1     the venv's Python already has pip, setuptools,
#                              wheel, torch and the pins: install none of them
#   SIMSIAM_MM_STACK_CHECK=F   run the Python file F as the final stack check
#                              instead of the built-in one
# pip's own PIP_NO_INDEX=1 / PIP_FIND_LINKS=DIR point `pip download` at a
# local folder holding the stand-in mmcv-<version>.tar.gz.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
# Absolute from here on: the mmcv build below runs from another directory.
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# numpy 1.26: mmcv's adjust_hue overflows under numpy 2 and numpy 2.4 drops
# np.in1d (used by mmpretrain's retrieval metrics); opencv-python 4.12+
# requires numpy 2, so it stays at 4.11.
PINS=(
  "numpy==1.26.4"
  "opencv-python==4.11.0.86"
  "mmengine==0.10.7"
  "mmpretrain==1.2.0"
  "mmdet==3.3.0"
  "pycocotools"
  "scikit-learn"
  "matplotlib"
  "tensorboard"
  "pytest"
  "flake8"
  "isort"
  "yapf"
)
CACHE_DIR="${SIMSIAM_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/simsiam_mm}"
STAMP="$VENV/.simsiam_mm_stamp"

log() { printf '[install] %s\n' "$*" >&2; }

fingerprint() {
  # Anything that changes what gets installed changes the stamp.
  cat "$ROOT/tools/install.sh" "$ROOT/setup.cfg" 2>/dev/null | sha256sum | cut -c1-16
}

check_stack() {
  if [ -n "${SIMSIAM_MM_STACK_CHECK:-}" ]; then
    "$VENV/bin/python" "$SIMSIAM_MM_STACK_CHECK"
    return
  fi
  "$VENV/bin/python" - <<'PY'
import torch
import mmcv
import mmcv.ops
from mmcv.ops import RoIAlign, nms
import mmdet.models  # noqa: F401
import mmpretrain.models  # noqa: F401
import simsiam_mm  # noqa: F401
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
scores = torch.tensor([0.9, 0.8, 0.7])
_, keep = nms(boxes, scores, 0.5)
assert keep.tolist() == [0, 2], keep
out = RoIAlign((2, 2), 1.0, 0)(torch.ones(1, 1, 8, 8), torch.tensor([[0., 0., 0., 4., 4.]]))
assert out.shape == (1, 1, 2, 2) and torch.allclose(out, torch.ones_like(out)), out
print(f'stack ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops compiled)')
PY
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
  if check_stack >/dev/null 2>&1; then
    log "already set up in $VENV (stamp matches); nothing to do"
    exit 0
  fi
  log "stamp matches but the stack check failed; repairing"
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
if [ "${SIMSIAM_MM_SKIP_PINS:-0}" != 1 ]; then
  "${PIP[@]}" install -q --upgrade pip 'setuptools<81' wheel ninja packaging

  log "torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
  "${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"

  log "OpenMMLab stack and tools"
  # Never mmdet[mim]/mmpretrain[mim]: they pull mmcv through an isolated build.
  "${PIP[@]}" install -q "${PINS[@]}"
fi

# mmcv with compiled ops, built once per (mmcv, torch, python, cuda) and cached.
read -r TORCH_TAG PY_TAG CUDA_TAG CXX_STD < <("$VENV/bin/python" - <<'PY'
import os, sys, torch
from torch.utils.cpp_extension import CUDA_HOME
cuda = 'cpu'
if torch.cuda.is_available() and CUDA_HOME is not None and torch.version.cuda:
    cuda = 'cu' + torch.version.cuda.replace('.', '')
major, minor = (int(x) for x in torch.__version__.split('+')[0].split('.')[:2])
std = 'c++20' if (major, minor) >= (2, 10) else 'c++17'
print(torch.__version__.split('+')[0], f'cp{sys.version_info[0]}{sys.version_info[1]}', cuda, std)
PY
)
KEY="mmcv-$MMCV_VERSION-torch$TORCH_TAG-$PY_TAG-$CUDA_TAG"
WHEEL_DIR="$CACHE_DIR/wheels/$KEY"
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "building $KEY from source (once per machine, ~13 min on 2 cores)"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    if [ "$CXX_STD" = "c++20" ]; then
      sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    fi
    FORCE_CUDA=0
    [ "$CUDA_TAG" != cpu ] && FORCE_CUDA=1
    mkdir -p "$WHEEL_DIR.tmp"
    (cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps . -w "$WHEEL_DIR.tmp")
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
  else
    log "using cached $WHEEL_DIR"
  fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
fi

log "simsiam_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

log "checking the stack"
if ! check_stack; then
  log "FAILED: the stack check above did not pass (mmcv.ops, mmdet.models, mmpretrain.models)"
  exit 1
fi
fingerprint > "$STAMP"
log "done"
