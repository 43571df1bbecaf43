#!/bin/bash
# session 28, call 1 (H200): the evaluator's session-27 changes on a GPU (held outputs, refill of edge inputs, scaled
# norms, the reference as its own gold) -- GPU tests, the GPU hostile tests, the hostile set through check (the new
# output_rotation among them) and the timing classes through bench; lsemish bench at the headline (per-call).
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
W=/tmp/call1; D=$W/call1; mkdir -p $D
nvidia-smi -L > $D/device.txt 2>&1; python3 -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $D/device.txt 2>&1
git log -1 --format=%H >> $D/device.txt 2>&1
run() { local name=$1 limit=$2; shift 2; local t0=$SECONDS; timeout $limit "$@" > $D/$name.txt 2>&1; echo "rc $? in $((SECONDS - t0)) s" >> $D/$name.txt; tail -n ${TAIL:-3} $D/$name.txt; }
pack() { (cd $W && tar czf $OUT/call1.tgz call1); }
run gpu-tests 120 python3 -m pytest -q tests/test_gpu.py -p no:cacheprovider; pack
TAIL=8 run gpu-hostile-tests 200 python3 -m pytest -q -rA --tb=short tests/test_gpu_hostile.py -p no:cacheprovider; pack
TAIL=24 run bench 80 python3 -m lsemish bench --out $D/bench; pack
TAIL=70 run hostile 170 python3 benchmarks/evaluator/hostile_run.py $D/hostile --shape 512,4096,4096 --calls 8 \
  --only output_rotation,output_reuse,no_lower_clamp,stale_answers,input_memo,tensor_subclass,complex_output,low_precision,timed_low_precision,side_stream,timer_patch,lazy_fetch,worker_timer,queued_precompute,input_zeroing_blind,lookahead
pack
