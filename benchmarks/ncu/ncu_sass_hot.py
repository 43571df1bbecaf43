"""The hottest SASS instructions of a kernel in an NCU `--page source --print-source sass --csv` file: by warp stall
samples, with each instruction's share of the kernel's samples (and the columns NCU gives beside them).

    python3 benchmarks/ncu/ncu_sass_hot.py FILE.csv [TOP]
"""
import csv
import sys


def main(path, top=30):
    lines = open(path, errors="replace").read().splitlines()
    start = next(i for i, line in enumerate(lines) if "Source" in line and "Sampling" in line)
    rows = list(csv.DictReader(lines[start:]))
    sample_col = next(c for c in rows[0] if "Sampling (All" in c)
    address = next((c for c in rows[0] if c.strip('"') in ("Address", "# Address")), None)

    def samples(r):
        try:
            return float(r[sample_col].replace(",", ""))
        except ValueError:
            return 0.0
    total = sum(samples(r) for r in rows)
    print(f"{len(rows)} instructions, {total:.0f} stall samples ({sample_col})")
    for r in sorted(rows, key=samples, reverse=True)[:top]:
        print(f"{100 * samples(r) / total:5.1f}%  {r.get(address, '') if address else ''}  {r['Source'][:110]}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
