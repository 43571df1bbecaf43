"""The reporting layer: tables and charts of results that the layers below produced (report/bench.py for lsemish's
own bench, report/candidates.py for candidates timed in workers). It imports from every layer below; nothing below
imports it."""
