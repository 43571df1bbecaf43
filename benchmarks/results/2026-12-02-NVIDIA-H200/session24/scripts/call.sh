#!/usr/bin/env bash
# session 24 (lost session 23's first call, run again, and the suite): one call of at most ~590 s.
#   bash benchmarks/results/2026-12-02-NVIDIA-H200/session24/scripts/call.sh N [ab]
# N: the call's number (results in $OUT/callN.tgz). "ab": first (#22) the host A/B of this tree's model_new against
# 9106585's (.carry/old_model_new.py) and tests/test_gpu.py. Then (#25) the suite of benchmarks/suite/run.sh on GPU 0,
# one round, in .carry/suite-work when it was carried (a run cut short resumes per problem), until ~575 s (LIMIT) of the
# call; the work folder comes back as $OUT/work.tgz for the next call to carry.
set -u
n=${1:?call number}
export PYTHONPATH=src:benchmarks/host TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=/tmp/call$n; mkdir -p $R
nvidia-smi --query-gpu=name,driver_version --format=csv > $R/device.txt
python -c "import torch, triton; print(torch.__version__, triton.__version__)" >> $R/device.txt
nproc >> $R/device.txt
if [ "${2:-}" = ab ]; then
  timeout 150 python benchmarks/host/ab_host_paths.py $R/ab_host_paths.json .carry/old_model_new.py:old \
    src/lsemish/model_new.py:new > $R/ab_host_paths.txt 2>&1; echo "rc $? at ${SECONDS} s" >> $R/ab_host_paths.txt
  timeout 150 python -m pytest -q tests/test_gpu.py > $R/gpu-tests.txt 2>&1; echo "rc $? at ${SECONDS} s" >> $R/gpu-tests.txt
fi
work=/tmp/suite-work
if [ -d .carry/suite-work ]; then cp -r .carry/suite-work $work; else mkdir -p $work; fi
left=$(( ${LIMIT:-575} - SECONDS ))
echo "suite from ${SECONDS} s, LOOP_TIMEOUT $left" > $R/suite-call.txt
SUITE_WORK=$work GPU_SETS=0 LOOP_TIMEOUT=$left bash benchmarks/suite/run.sh $R/suite 1 >> $R/suite-call.txt 2>&1
echo "rc $? at ${SECONDS} s" >> $R/suite-call.txt
rm -f $R/suite/run-gpus-0.tgz  # the whole work folder comes back instead
tar czf $OUT/work.tgz -C $work .
tar czf $OUT/call$n.tgz -C /tmp call$n
