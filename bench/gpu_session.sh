#!/usr/bin/env bash
# One short pass over every CUDA path, for a lent GPU machine whose image has torch but not
# liplab's service packages (carried as wheels in .whl/, see docs/benchmarks.md "GPU"):
#   correctness (packed vs solo, CUDA vs CPU, float64), the flossing step, one run through the
#   API and a GPU worker (`liplab worker --gpus 0`), the layer table, packed vs one-run-per-job.
# Each step has its own time limit, so one slow step cannot eat the others; logs go to $OUT.
#   OUT=/tmp/gpu bash bench/gpu_session.sh [cpu]    # the same script on the CPU, as a dry run
set -u
DEV=${1:-cuda}
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
if [ -d .whl ] && ! python3 -c "import celery, sqlalchemy, fastapi" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
export LIPLAB_HOME=$(mktemp -d)
step() {  # step NAME SECONDS COMMAND...: run, log to $OUT/NAME.txt, print the end of it
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/summary.txt"
  tail -n 25 "$OUT/$name.txt" | tee -a "$OUT/summary.txt"
}
{ nvidia-smi -L 2>&1; python3 -c "import torch, sys; print(sys.version.split()[0], 'torch', \
torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"; nproc; } \
  | tee "$OUT/summary.txt"

step checks 90 python3 bench/cuda_checks.py --device "$DEV"
step flossing 60 python3 bench/flossing.py --device "$DEV"

worker_run() {
  local py=python3 url=http://127.0.0.1:8765
  $py -m liplab.cli db upgrade || return 1
  $py -m liplab.cli api --port 8765 & local api=$!
  if [ "$DEV" = cuda ]; then $py -m liplab.cli worker --gpus 0 --loglevel WARNING & local w=$!
  else $py -m liplab.cli worker --cpu 1 --loglevel WARNING & local w=$!; fi
  $py -c "import time, httpx
for _ in range(120):
    try:
        httpx.get('$url/api/v1/health').raise_for_status(); break
    except Exception: time.sleep(0.5)"
  LIPLAB_URL=$url $py -m liplab.cli submit configs/quickstart.yaml training.device="$DEV" \
    training.epochs=10 model.model_seed=0,1,2 --name gpu-smoke --wait
  local rc=$?
  LIPLAB_URL=$url $py -m liplab.cli submit configs/sine_flossing.yaml training.device="$DEV" \
    training.epochs=2 --wait || rc=1
  LIPLAB_URL=$url $py -m liplab.cli status
  LIPLAB_URL=$url $py -m liplab.cli logs 1
  LIPLAB_URL=$url $py -m liplab.cli logs 4
  kill $w $api; wait
  return $rc
}
export -f worker_run; export DEV
step worker 90 bash -c worker_run
step layers 80 python3 bench/layers.py --device "$DEV"
step packing 150 python3 bench/packing.py --device "$DEV" --seeds 32 --sine-epochs 2 \
  --linear-epochs 300
echo "=== done; logs in $OUT"
