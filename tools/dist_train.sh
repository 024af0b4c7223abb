#!/usr/bin/env bash
# Train on GPUS processes of this machine with torchrun.
#
#   tools/dist_train.sh CONFIG GPUS [tools/train.py options]
#
# Several machines: run the same command on each, with the environment
#   NNODES       number of machines                  (default 1)
#   NODE_RANK    rank of this machine, 0..NNODES-1   (default 0)
#   MASTER_ADDR  address of the machine of rank 0    (default 127.0.0.1)
#   PORT         free TCP port on that machine       (default 29500)
# Without GPUs the processes run on CPU, over gloo. PYTHON picks the
# interpreter (default: python).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py options]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" \
    -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
