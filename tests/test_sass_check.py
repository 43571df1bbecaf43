"""The SASS wgmma-hazard scan on small hand-written loops (no compiler needed)."""
from lsemish.sass_check import _written, hgmma_loop_hazards

LOOP = """
        /*0100*/                   LDSM.16.M88.4 R8, [R2+0x100] ;
        /*0110*/                   LOP3.LUT R92, R8, 0xffffe000, RZ, 0xc0, !PT ;
        /*0120*/                   WARPGROUP.ARRIVE ;
        /*0130*/                   HGMMA.64x128x8.F32.TF32 R24, R92, gdesc[UR24], R24, gsb0 ;
        /*0140*/                   LOP3.LUT R96, R9, 0xffffe000, RZ, 0xc0, !PT ;
        /*0150*/                   WARPGROUP.DEPBAR.LE gsb0, 0x{keep} ;
        /*0160*/                   HGMMA.64x128x8.F32.TF32 R24, R96, gdesc[UR24], R24, gsb0 ;
        /*0170*/                   WARPGROUP.DEPBAR.LE gsb0, 0x{keep} ;
        /*0180*/               @P0 BRA 0x100 ;
        /*0190*/                   EXIT ;
"""


def test_write_to_a_pending_a_operand_is_a_hazard():
    n, hazards = hgmma_loop_hazards(LOOP.format(keep=1))
    assert n == 2
    # Around the back edge the second HGMMA (A = R96..R99) is still pending when R96 is written again; R92 is safe
    # because the first DEPBAR.LE 1 retired the HGMMA that read it before the loop came back.
    assert [(h.address, h.registers) for h in hazards] == [(0x140, [96])]


def test_waiting_for_all_wgmmas_clears_it():
    assert hgmma_loop_hazards(LOOP.format(keep=0)) == (2, [])


def test_accumulator_reads_count_too():
    sass = LOOP.format(keep=1).replace("LOP3.LUT R96, R9", "FADD R30, R9")
    hazards = hgmma_loop_hazards(sass)[1]
    assert hazards and hazards[0].registers == [30]


def test_no_hgmma_no_report():
    assert hgmma_loop_hazards("        /*0000*/                   EXIT ;\n") == (0, [])


def test_multi_register_writes_cover_every_register():
    assert _written("LDSM.16.M88.2 R8, [R2+0x100]") == {8, 9}
    assert _written("LDS.128 R12, [R2]") == {12, 13, 14, 15}
    assert _written("IMAD.WIDE.U32 R4, R2, R3, RZ") == {4, 5}
    assert _written("@P0 LDG.E.64 R2, desc[UR4][R6.64]") == {2, 3}
    assert _written("STS [R1], R2") == set()
