#!/usr/bin/env bash
set -u
export PYTHONPATH=src TRITON_INTERPRET=0 PYTHONUNBUFFERED=1
R=$OUT/r; mkdir -p $R
timeout 100 python .carry/diag_graph2.py compile > $R/diag2-compile.txt 2>&1
timeout 60 python .carry/diag_graph2.py > $R/diag2-plain.txt 2>&1
tar czf $OUT/call4.tgz -C $OUT r && rm -rf $R
