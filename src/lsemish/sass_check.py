"""Find Hopper wgmma register hazards in SASS: a write to a register that an in-flight HGMMA still reads.

PTX (wgmma.wait_group): the accumulator and a register A operand of a wgmma must not be accessed until a
wait_group retires that wgmma. In SASS a wgmma is an HGMMA, retired by `WARPGROUP.DEPBAR.LE gsb0, N` (at most N
HGMMA groups still pending). This walks the main loop twice (so values carried around the back edge count), keeps
the pending HGMMAs in issue order, and reports every instruction that writes a register of one of them.

Triton 3.6 pipelines register-A dots with too few waits (triton-lang/triton#9433): with ptxas 12.8 and 13.3 its
SASS has such writes, and on an H100 those kernels gave wrong, unrepeatable results (benchmarks/results/.../session2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_BRANCH = re.compile(r"\bBRA (0x[0-9a-f]+)")
_DEPBAR = re.compile(r"WARPGROUP\.DEPBAR\.LE gsb0, 0x([0-9a-f]+)")
_HGMMA = re.compile(r"HGMMA\.64x(\d+)x\d+\S*\s+(R\d+),\s*(R\d+|gdesc)")
# Opcodes whose first operand is not a register they write.
_NO_DEST = ("HGMMA", "ST", "BRA", "BAR", "WARPGROUP", "SYNCS", "UTMA", "MEMBAR", "DEPBAR", "RED", "ATOM", "EXIT",
            "RET", "FENCE", "ELECT", "NOP", "CALL", "ERRBAR", "CCTL", "YIELD", "VOTEU", "R2UR", "U")


@dataclass
class Hazard:
    address: int
    instruction: str
    registers: list
    hgmma_address: int


def parse(sass: str):
    """[(address, instruction text)] from `cuobjdump -sass` output."""
    return [(int(m.group(1), 16), m.group(2)) for m in map(_LINE.match, sass.splitlines()) if m]


def _regs(token: str, count: int) -> set:
    m = re.fullmatch(r"R(\d+)", token.strip())
    return set(range(int(m.group(1)), int(m.group(1)) + count)) if m else set()


def _written(text: str) -> set:
    body = re.sub(r"^@!?U?P\w+\s+", "", text)
    parts = body.split(None, 1)
    if len(parts) < 2 or parts[0].startswith(_NO_DEST):
        return set()
    op, first = parts[0], parts[1].split(",")[0]
    if op.startswith("LDSM"):  # LDSM.16.M88.{1,2,4}: one register per 8x8 matrix
        suffix = op.rsplit(".", 1)[1]
        width = int(suffix) if suffix.isdigit() else 4
    elif ".128" in op:
        width = 4
    elif ".64" in op or ".WIDE" in op or op.startswith(("DADD", "DMUL", "DFMA")):  # a register pair
        width = 2
    else:
        width = 1
    return _regs(first, width)


def hgmma_loop_hazards(sass: str) -> tuple[int, list[Hazard]]:
    """(number of HGMMAs in the loop, hazards) for the loop that holds the kernel's HGMMAs; (0, []) if none."""
    ins = parse(sass)
    hg = [i for i, (_, t) in enumerate(ins) if t.startswith("HGMMA") or " HGMMA" in t]
    if not hg:
        return 0, []
    first_addr = ins[hg[0]][0]
    end = next((i for i in range(hg[-1], len(ins))
                if (b := _BRANCH.search(ins[i][1])) and int(b.group(1), 16) <= first_addr), None)
    if end is None:  # no loop around the HGMMAs: straight-line code
        start, end = hg[0], hg[-1]
    else:
        target = int(_BRANCH.search(ins[end][1]).group(1), 16)
        start = next(i for i, (a, _) in enumerate(ins) if a == target)
    body = ins[start:end + 1]
    pending, hazards = [], []
    for rnd in range(2):
        for addr, text in body:
            m = _HGMMA.search(text)
            if m:
                regs = _regs(m.group(2), int(m.group(1)) // 2)  # accumulator: N/2 registers per thread
                regs |= _regs(m.group(3), 4)  # register A operand (absent when A comes from shared memory)
                pending.append((addr, regs))
                continue
            d = _DEPBAR.search(text)
            if d:
                keep = int(d.group(1), 16)
                pending = pending[max(0, len(pending) - keep):] if keep else []
                continue
            written = _written(text)
            for h_addr, regs in pending:
                if written & regs and rnd == 1:
                    hazards.append(Hazard(addr, text, sorted(written & regs), h_addr))
    return len(hg), hazards
