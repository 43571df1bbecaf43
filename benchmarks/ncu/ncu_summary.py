"""Per kernel of an NCU `--csv --page details` file: duration, throughputs, pipe and issue figures, registers, shared
memory, waves, and each stall reason NCU's rules name with its share of the cycles between issues.

    python3 benchmarks/ncu/ncu_summary.py FILE.csv
"""
import csv
import re
import sys

KEEP = ("Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput", "SM Active Cycles",
        "Elapsed Cycles", "Issue Slots Busy", "Issued Ipc Active", "Warp Cycles Per Issued Instruction",
        "Registers Per Thread", "Dynamic Shared Memory Per Block", "Waves Per SM", "Grid Size", "Achieved Occupancy")


def main(path):
    lines = [line for line in open(path) if line.startswith('"')]
    kernels = {}
    for row in csv.DictReader(lines):
        k = kernels.setdefault(row["ID"], {"name": row["Kernel Name"], "metrics": {}, "notes": []})
        if row["Metric Name"] in KEEP:
            k["metrics"][row["Metric Name"]] = f'{row["Metric Value"]} {row["Metric Unit"]}'.strip()
        text = row.get("Rule Description") or ""
        stall = re.search(r"each warp of this workload spends ([\d.]+) cycles being stalled ([^.]*)\..*?about "
                          r"([\d.]+)% of the total", text)
        if stall:
            k["notes"].append(f"stall {stall.group(3)}% ({stall.group(1)} cycles): {stall.group(2)}")
        pipe = re.search(r"(\w+) is the highest-utilized pipeline \(([\d.]+)%\)", text)
        if pipe:
            k["notes"].append(f"highest pipe: {pipe.group(1)} {pipe.group(2)}%")
    for kid, k in kernels.items():
        print(f"[{kid}] {k['name'][:80]}")
        for name in KEEP:
            if name in k["metrics"]:
                print(f"    {name}: {k['metrics'][name]}")
        for note in k["notes"]:
            print(f"    {note}")


if __name__ == "__main__":
    main(sys.argv[1])
