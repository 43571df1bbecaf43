#!/usr/bin/env bash
# session 19, call 6: the suite of 10 problems through the loop on one H200 (issue 25), one round, resumable
set -u
R=$OUT/suite-2; mkdir -p $R
mkdir -p loop-out
SUITE_WORK=$PWD/loop-out/suite-work GPU_SETS=0 LOOP_TIMEOUT=535 bash benchmarks/suite/run.sh $R 1
git rev-parse HEAD >> $R/device.txt
git status --short >> $R/device.txt
tar czf $OUT/suite-2.tgz -C $OUT suite-2 && rm -rf $R
