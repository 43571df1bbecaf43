#!/usr/bin/env bash
# session 22, call 5 (and 6, resuming) (#25): the suite of 10 problems through the loop on one H200, one round of the
# scripted agent, with the work floor from calls queued behind the flush; its work folder lives in .carry/suite-work
# (carried back in to resume a run cut by LOOP_TIMEOUT) and comes back whole under $OUT
set -u
N=${1:?call number}; T=${2:-540}
R=$OUT/call$N; mkdir -p $R .carry/suite-work
git rev-parse HEAD > $R/head.txt; git status --short >> $R/head.txt
SUITE_WORK=$PWD/.carry/suite-work GPU_SETS=0 LOOP_TIMEOUT=$T bash benchmarks/suite/run.sh $R/suite 1
PYTHONPATH=src timeout 40 python -m lsemish report .carry/suite-work/gpus-0 > $R/report.txt 2>&1; echo "rc $?" >> $R/report.txt
cp -r .carry/suite-work/gpus-0/suite* $R/ 2>/dev/null
tar czf $OUT/suite-work.tgz -C .carry suite-work
