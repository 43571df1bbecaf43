"""Example KernelBench-format problems (class Model, get_inputs(), get_init_inputs()), small enough for Triton's
interpreter: a plain matmul, a GEMM followed by GELU and a bias, and a row reduction. Problem 22 is lsemish.problem."""
import os

FOLDER = os.path.dirname(__file__)
EXAMPLES = {name[:-3]: os.path.join(FOLDER, name) for name in sorted(os.listdir(FOLDER))
            if name.endswith(".py") and not name.startswith("_")}
