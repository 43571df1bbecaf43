#!/bin/bash
# `check` on official KernelBench problems with large outputs, on the GPU machine: this checkout's code against an
# older one (OLD_SRC, a copy of its src/ folder), interleaved, each problem with its own reference as the candidate
# (benchmarks/evaluator/official_problems.py; one trial per distribution). Usage:
#   OLD_SRC=.carry/old/src bash benchmarks/evaluator/check_speed_gpu.sh OUT KB_DIR
# Writes OUT/{quarter-new,quarter-old,full-new}/official.{jsonl,md}, OUT/env.txt and OUT/check-speed.tgz.
set -u
OUT=$1; KB=$2; OLD=${OLD_SRC:-.carry/old/src}; T=${CHECK_TIMEOUT:-45}
export TRITON_INTERPRET=0
mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; git rev-parse HEAD;
  python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } > "$OUT/env.txt" 2>&1
Q=$(mktemp --suffix=.json)
echo '{"level1/19_ReLU.py": {"batch_size": 1024}, "level1/25_Swish.py": {"batch_size": 1024}}' > "$Q"
for v in new old; do
  src=src; [ $v = old ] && src=$OLD
  PYTHONPATH=$src timeout $((T * 2 + 20)) python benchmarks/evaluator/official_problems.py "$KB" "$OUT/quarter-$v" \
    --sample "$Q" --jobs 1 --timeout "$T" 2>&1 | tail -4
done
PYTHONPATH=src timeout $((T + 20)) python benchmarks/evaluator/official_problems.py "$KB" "$OUT/full-new" --levels 1 \
  --only 19_ReLU --jobs 1 --timeout "$T" 2>&1 | tail -4
tar -czf "$OUT/check-speed.tgz" -C "$OUT" --exclude=check-speed.tgz . 2>/dev/null
