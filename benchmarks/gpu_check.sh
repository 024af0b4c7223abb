#!/usr/bin/env bash
# GPU throughput check of simsiam_mm, one command, under 8 minutes on an
# H100/H200 with PyTorch preinstalled and no network:
#
#   bash benchmarks/prepare_gpu_wheels.sh     # here, with network (once)
#   bash benchmarks/gpu_check.sh              # there, in this checkout
#   DEVICE=cpu bash benchmarks/gpu_check.sh   # dry run at a tiny size
#
# 1. Installs the pure-Python wheels of .whl/ (mmengine, mmpretrain,
#    mmcv-lite, ...) into a private folder when the machine lacks them, and
#    a compiled dependency from .whl/cpXY/ only when it is not importable.
# 2. benchmarks/bench_step.py on synthetic data, ResNet-50 at SIZE px, BATCH
#    images per view: simsiam_mm, mmpretrain and bare PyTorch in fp32, then
#    simsiam_mm and PyTorch with bf16 autocast + channels_last, and
#    simsiam_mm with bf16 + channels_last + fused SGD + compiled modules
#    (COMPILE=1; mmengine's `compile` key recompiles train_step whenever the
#    lr changes, see benchmarks/README.md). MFU = pairs/s x 49.3 GFLOP x
#    (SIZE/224)^2 / PEAK_TFLOPS.
# 3. benchmarks/bench_train.py: STEPS steps on generated JPEGs through the
#    real loader, views drawn on the GPU by SimSiamDeviceAugPreprocessor,
#    bf16 + channels_last (fp32 + channels_last if bf16 fails).
# 4. bench_train.py, E2E_STEPS steps each: simsiam_mm's CPU pipeline against
#    mmpretrain's, WORKERS loader workers each (the 1.3x target of the
#    end-to-end comparison is about data-bound machines like this one).
# Results: benchmarks/results/gpu_check_<gpu>_<time>.json (and $OUT/ when
# set); the run's log next to it. DEVICE=cpu writes to $TMPDIR instead.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
PEAK_TFLOPS="${PEAK_TFLOPS:-790}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
# the dry run on a CPU leaves benchmarks/results/ to real GPU results
if [ "$DEVICE" = cuda ]; then
  RESULTS="${RESULTS:-$ROOT/benchmarks/results}"
else
  RESULTS="${RESULTS:-${TMPDIR:-/tmp}/simsiam_mm_gpu_check}"
fi
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu_check_$STAMP.log"

if [ "$DEVICE" = cuda ]; then
  SIZE="${SIZE:-224}" BATCH="${BATCH:-128}" ITERS="${ITERS:-15}"
  WARMUP="${WARMUP:-6}" STEPS="${STEPS:-100}" N_IMAGES="${N_IMAGES:-512}"
  COMPILE="${COMPILE:-1}" DEPTH="${DEPTH:-50}" E2E_STEPS="${E2E_STEPS:-30}"
  WORKERS="${WORKERS:-$(( $(nproc) > 12 ? 10 : $(nproc) - 2 ))}"
  THREADS="${THREADS:-4}" ARM_TIMEOUT="${ARM_TIMEOUT:-300}"
else  # a dry run of every step on the CPU
  SIZE="${SIZE:-32}" BATCH="${BATCH:-4}" ITERS="${ITERS:-2}"
  WARMUP="${WARMUP:-1}" STEPS="${STEPS:-3}" N_IMAGES="${N_IMAGES:-8}"
  COMPILE="${COMPILE:-0}" DEPTH="${DEPTH:-18}" WORKERS="${WORKERS:-0}"
  E2E_STEPS="${E2E_STEPS:-2}"
  THREADS="${THREADS:-1}" ARM_TIMEOUT="${ARM_TIMEOUT:-600}"
fi

log() { printf '[gpu_check] %s\n' "$*" | tee -a "$LOG" >&2; }
log "device=$DEVICE size=$SIZE batch=$BATCH steps=$STEPS compile=$COMPILE"

# ---- 1. dependencies -------------------------------------------------------
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
SITE="${SITE:-$ROOT/.whl/site-$PYTAG}"
export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  log "FAILED: $PY cannot import torch; this check expects PyTorch installed"
  exit 1
fi
if ! "$PY" -c 'import mmengine, mmpretrain, mmcv' 2>/dev/null; then
  if ! ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
    log "FAILED: mmengine/mmpretrain/mmcv missing and no wheels in .whl/;"
    log "run benchmarks/prepare_gpu_wheels.sh on a machine with network"
    exit 1
  fi
  log "installing .whl/*.whl into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" \
    "$ROOT"/.whl/*.whl 2>&1 | tee -a "$LOG"
fi
# compiled dependencies: module -> wheel names in .whl/cpXY/
declare -A COMPILED=(
  [numpy]="numpy" [cv2]="opencv_python" [yaml]="pyyaml" [PIL]="pillow"
  [matplotlib]="matplotlib contourpy kiwisolver fonttools"
)
for module in numpy cv2 yaml PIL matplotlib; do
  "$PY" -c "import $module" 2>/dev/null && continue
  wheels=()
  for name in ${COMPILED[$module]}; do
    for w in "$ROOT/.whl/$PYTAG/$name"-*.whl; do
      [ -f "$w" ] && wheels+=("$w")
    done
  done
  if [ "${#wheels[@]}" -eq 0 ]; then
    log "FAILED: cannot import $module and .whl/$PYTAG has no wheel for it;"
    log "run BINARY_PYTHONS=\"${PYTAG:2:1}.${PYTAG:3}\" bash benchmarks/prepare_gpu_wheels.sh"
    exit 1
  fi
  log "installing ${wheels[*]##*/} into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" \
    "${wheels[@]}" 2>&1 | tee -a "$LOG"
done
if ! "$PY" -c 'import simsiam_mm' 2>>"$LOG"; then
  log "FAILED: import simsiam_mm (see $LOG)"
  exit 1
fi
"$PY" - <<'PY' 2>&1 | tee -a "$LOG"
import mmcv, mmengine, mmpretrain, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
print(f'[gpu_check] torch {torch.__version__}, mmengine {mmengine.__version__}, '
      f'mmpretrain {mmpretrain.__version__}, mmcv {mmcv.__version__}, gpu {gpu}')
PY

# ---- 2. training step on synthetic data -----------------------------------
ARMS=(simsiam_mm mmpretrain torch simsiam_mm:bf16+channels_last
      torch:bf16+channels_last simsiam_mm:bf16+channels_last+fused)
# compile on the Runner path only: compiling the bare loop too would double
# the compile time
[ "$COMPILE" = 1 ] && ARMS+=(simsiam_mm:bf16+channels_last+fused+compile_modules)
STEP_JSON="$RESULTS/.step_$STAMP.json"
log "bench_step: ${ARMS[*]}"
"$PY" benchmarks/bench_step.py --device "$DEVICE" --size "$SIZE" \
  --batch "$BATCH" --rounds 1 --iters "$ITERS" --warmup "$WARMUP" \
  --threads "$THREADS" --arm-timeout "$ARM_TIMEOUT" \
  --peak-tflops "$PEAK_TFLOPS" --arms "${ARMS[@]}" --out "$STEP_JSON" \
  2>>"$LOG" | tail -1

# ---- 3. 100 steps on JPEGs, views drawn on the GPU -------------------------
TRAIN_JSON="$RESULTS/.train_$STAMP.json"
run_train() {  # extra flags: the precision
  log "bench_train: $STEPS steps, device-side augmentation, $WORKERS workers $*"
  "$PY" benchmarks/bench_train.py --device "$DEVICE" --arms simsiam_mm_device \
    --size "$SIZE" --batch "$BATCH" --depth "$DEPTH" --iters "$STEPS" \
    --warmup "$WARMUP" --workers "$WORKERS" --threads "$THREADS" \
    --n-images "$N_IMAGES" --channels-last --run-timeout "$ARM_TIMEOUT" \
    --out "$TRAIN_JSON" "$@" 2>>"$LOG" | tail -1
}
run_train --bf16
# a failed bf16 run (e.g. the augmentation under autocast) is kept in the
# log and the steps are rerun in fp32, so that the budget is not lost
if "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if any("error" in a for a in r["arms"].values()) else 1)' "$TRAIN_JSON" 2>/dev/null; then
  log "bf16 run failed: $(cat "$TRAIN_JSON"); rerunning in fp32"
  run_train
fi

# ---- 4. end to end, each pipeline on the CPU workers (E2E_STEPS=0: skip) --
E2E_JSON="$RESULTS/.e2e_$STAMP.json"
if [ "$E2E_STEPS" -gt 0 ]; then
  log "bench_train: simsiam_mm vs mmpretrain pipelines, $E2E_STEPS steps, $WORKERS workers"
  "$PY" benchmarks/bench_train.py --device "$DEVICE" \
    --arms simsiam_mm mmpretrain --size "$SIZE" --batch "$BATCH" \
    --depth "$DEPTH" --iters "$E2E_STEPS" --warmup "$WARMUP" \
    --workers "$WORKERS" --threads "$THREADS" --n-images "$N_IMAGES" \
    --channels-last --run-timeout "$ARM_TIMEOUT" --out "$E2E_JSON" \
    2>>"$LOG" | tail -1
fi

# ---- results --------------------------------------------------------------
"$PY" - "$STEP_JSON" "$TRAIN_JSON" "$E2E_JSON" "$RESULTS" "$STAMP" \
  "$PEAK_TFLOPS" "$SIZE" "$DEPTH" <<'PY' 2>&1 | tee -a "$LOG"
import json, os, re, shutil, sys
step_path, train_path, e2e_path, results, stamp, peak, size, depth = \
    sys.argv[1:]
peak, size = float(peak), int(size)
load = lambda p: json.load(open(p)) if os.path.exists(p) else dict(error='missing')
step, train, e2e = load(step_path), load(train_path), load(e2e_path)
for arm in [*train.get('arms', {}).values(), *e2e.get('arms', {}).values()]:
    if 'pairs_per_s' in arm and int(depth) == 50:
        arm['mfu'] = round(arm['pairs_per_s'] * 49.3 * (size / 224)**2 /
                           (peak * 1e3), 4)
gpu = step.get('machine', {}).get('gpu', 'cpu')
report = dict(check='gpu_check', stamp=stamp, peak_tflops=peak,
              flop_per_pair_224=49.3e9, step=step, train=train,
              end_to_end=e2e)
name = f"gpu_check_{re.sub(r'[^A-Za-z0-9]+', '-', gpu).strip('-')}_{stamp}.json"
path = os.path.join(results, name)
with open(path, 'w') as f:
    json.dump(report, f, indent=1)
for p in (step_path, train_path, e2e_path):
    if os.path.exists(p):
        os.remove(p)
if os.environ.get('OUT'):
    shutil.copy(path, os.environ['OUT'])
arms = step.get('arms', {})
print('[gpu_check] pairs/s (MFU):', ', '.join(
    f"{k} {v.get('pairs_per_s')} ({v.get('mfu', '-')})" for k, v in arms.items()))
for k, v in train.get('arms', {}).items():
    print(f"[gpu_check] train {k}: {v.get('pairs_per_s')} pairs/s, "
          f"data_time {v.get('data_time_s')} s, iter {v.get('iter_time_s')} s, "
          f"MFU {v.get('mfu', '-')}" if 'error' not in v else
          f"[gpu_check] train {k}: {v['error']}")
if 'ratios' in e2e:
    print('[gpu_check] end to end:', e2e['ratios'])
print(f'[gpu_check] wrote {path}')
PY
if [ -n "${OUT:-}" ]; then cp "$LOG" "$OUT/" 2>/dev/null || true; fi
