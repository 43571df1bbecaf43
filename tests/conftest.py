import os

# The kernels run through Triton's interpreter on the CPU; this must be set before lsemish.model_new is imported.
os.environ.setdefault("TRITON_INTERPRET", "1")
