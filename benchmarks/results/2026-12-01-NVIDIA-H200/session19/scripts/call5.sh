#!/usr/bin/env bash
set -u
export PYTHONPATH=src:.carry TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
timeout 120 python -m pytest -q -s -x -p diag_spy tests/test_gpu.py -k "compile_fullgraph or graph_capture" > $R/spy.txt 2>&1
timeout 60 python -m pytest -q -s -x -p diag_spy tests/test_gpu.py -k "compile_fullgraph and bf16 or graph_capture and bf16" > $R/spy-bf16.txt 2>&1
tar czf $OUT/call5.tgz -C $OUT r && rm -rf $R
