#!/bin/bash
# session 28, call 2 (H200, warm after call 1): what call 1 ran out of time for -- the honest candidates that compile
# for the GPU (CUDA extension, torch.compile) through check with held outputs; the timing classes call 1's bench did
# not reach, through bench (their checks pass by design: only timing shows them).
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
W=/tmp/call2; D=$W/call2; mkdir -p $D
git log -1 --format=%H > $D/device.txt 2>&1
run() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; timeout $limit "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-3} $D/$name.txt; }
pack() { (cd $W && tar czf $OUT/call2.tgz call2); }
TAIL=8 run gpu-hostile-compile 260 python3 -m pytest -q -rA --tb=short tests/test_gpu_hostile.py -k honest_candidates_that_compile -p no:cacheprovider; pack
TAIL=40 run hostile-bench 230 python3 benchmarks/evaluator/hostile_run.py $D/hostile --shape 512,4096,4096 --calls 8 --no-check \
  --only queued_precompute,side_stream,timed_low_precision,worker_timer,profile_hook,function_mode,timer_shave,empty_inflate
pack
