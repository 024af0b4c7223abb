#!/usr/bin/env bash
# Wheels that benchmarks/gpu_check.sh installs on a GPU machine without
# network access, into the git-ignored folder .whl/ of this checkout.
#
#   bash benchmarks/prepare_gpu_wheels.sh                  # pure Python, ~7 MB
#   BINARY_PYTHONS="3.10 3.12" bash benchmarks/prepare_gpu_wheels.sh
#
# The GPU machine is expected to bring its own PyTorch (and torchvision).
# What travels:
#
# * .whl/*.whl: every pure-Python wheel of the closure of mmengine 0.10.7,
#   mmpretrain 1.2.0 and mmcv-lite 2.1.0 at the versions this machine's venv
#   runs (tested together). mmcv-lite is mmcv 2.1.0 without the compiled
#   ops: `import simsiam_mm` needs mmcv only for mmcv.cnn / mmcv.transforms,
#   which are pure Python. simsiam_mm itself is imported from the checkout
#   (the benchmarks and configs live there too), so it needs no wheel.
# * .whl/cpXY/*.whl (only with BINARY_PYTHONS): the compiled dependencies
#   (numpy, opencv-python, matplotlib and its helpers, PyYAML, Pillow) for
#   CPython X.Y on manylinux x86_64. gpu_check.sh installs one of them only
#   when the machine cannot import it already. Each Python adds ~110 MB,
#   mostly opencv-python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${WHEEL_DIR:-$ROOT/.whl}"
BINARY_PYTHONS="${BINARY_PYTHONS:-}"
TOP=("mmengine==0.10.7" "mmpretrain==1.2.0" "mmcv-lite==2.1.0")
# needed only below Python 3.11 (yapf), so not in the closure resolved here
OLD_PYTHON_ONLY=(tomli)
BINARY=(numpy opencv-python matplotlib pyyaml pillow)

log() { printf '[prepare_gpu_wheels] %s\n' "$*" >&2; }
# pip download, minus the warnings about this machine's unused index folders
pip_download() {
  "$PY" -m pip download -q "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

mkdir -p "$OUT"
printf '*\n' > "$OUT/.gitignore"  # the folder ignores itself
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The versions tested here constrain the download.
"$PY" -m pip freeze --exclude-editable | grep -v '^mmcv==' > "$TMP/constraints.txt"

log "pure-Python closure of ${TOP[*]}"
pip_download -d "$TMP/all" -c "$TMP/constraints.txt" "${TOP[@]}"
pip_download -d "$TMP/all" --no-deps --only-binary=:all: --platform any \
  --python-version 3.9 "${OLD_PYTHON_ONLY[@]}"
rm -f "$OUT"/*.whl
find "$TMP/all" -name '*-none-any.whl' -exec mv {} "$OUT"/ \;

for version in $BINARY_PYTHONS; do
  tag="cp${version//./}"
  log "compiled dependencies for CPython $version ($tag)"
  rm -rf "${OUT:?}/$tag"
  pip_download -d "$OUT/$tag" -c "$TMP/constraints.txt" \
    --only-binary=:all: --implementation cp --python-version "$version" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 "${BINARY[@]}"
  find "$OUT/$tag" -name '*-none-any.whl' -delete  # already in $OUT
done

log "wrote $(find "$OUT" -name '*.whl' | wc -l) wheels, $(du -sh "$OUT" | cut -f1), to $OUT"
