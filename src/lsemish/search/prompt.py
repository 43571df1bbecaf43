"""The seed's prompt, written for any candidate: target GPU, optimization stage, current code, its Nsight Compute
metrics, the task, the Triton API constraints and the output rules (the layout of ../shared/seed/seed_prompt.txt)."""
from __future__ import annotations

import json
import os

from .prompt_text import HEADER, STAGES, TASK_AND_RULES

# Datasheet figures (dense tensor-core rates; shared memory per SM and the per-block limit as CUDA reports them).
# "4090" is the seed's block verbatim. Sources: NVIDIA's product datasheets and the CUDA programming guide's
# compute-capability tables; the H200's L2 is what PyTorch reports on one (not in its datasheet).
GPUS = {
    "4090": {"name": "4090", "arch": "Ada Lovelace", "cc": "8.9", "sms": 128, "bandwidth": "1008 GB/s",
             "tf32": 82.6, "bf16": 165.2, "fp16": 165.2, "threads_per_sm": 1536, "warps_per_sm": 48,
             "smem_per_sm": 100, "smem_per_block": 99, "l2": "72 MB"},
    "H100": {"name": "H100 SXM5 80GB", "arch": "Hopper", "cc": "9.0", "sms": 132, "bandwidth": "3350 GB/s",
             "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "threads_per_sm": 2048, "warps_per_sm": 64,
             "smem_per_sm": 228, "smem_per_block": 227, "l2": "50 MB"},
    "H200": {"name": "H200 SXM 141GB", "arch": "Hopper", "cc": "9.0", "sms": 132, "bandwidth": "4800 GB/s",
             "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "threads_per_sm": 2048, "warps_per_sm": 64,
             "smem_per_sm": 228, "smem_per_block": 227, "l2": "60 MB"},
    "A100": {"name": "A100 SXM4 80GB", "arch": "Ampere", "cc": "8.0", "sms": 108, "bandwidth": "2039 GB/s",
             "tf32": 156.0, "bf16": 312.0, "fp16": 312.0, "threads_per_sm": 2048, "warps_per_sm": 64,
             "smem_per_sm": 164, "smem_per_block": 163, "l2": "40 MB"},
    "L40S": {"name": "L40S", "arch": "Ada Lovelace", "cc": "8.9", "sms": 142, "bandwidth": "864 GB/s",
             "tf32": 183.0, "bf16": 362.05, "fp16": 362.05, "threads_per_sm": 1536, "warps_per_sm": 48,
             "smem_per_sm": 100, "smem_per_block": 99, "l2": "96 MB"},
}
DEFAULT_GPU = "4090"


def gpu_block(spec: dict) -> str:
    """The '# Target GPU' block of the seed, for one GPUS entry (or a dict of the same keys)."""
    lines = ["# Target GPU", f"GPU Name: {spec['name']}", f"Architecture: {spec['arch']}",
             f"Compute Capability: {spec['cc']}", f"Number of SMs: {spec['sms']}",
             f"Memory Bandwidth: {spec['bandwidth']}",
             f"TF32 Tensor Core TFLOPS: {spec['tf32']:g} with dense",
             f"BFLOAT16 Tensor Core TFLOPS: {spec['bf16']:g} with dense",
             f"FP16 Tensor Core TFLOPS: {spec['fp16']:g} with dense",
             "Maximum number of registers per thread: 255", "Maximum threads per block: 1024",
             f"Maximum threads per SM: {spec['threads_per_sm']}", "Warp size: 32",
             f"Maximum concurrent warps per SM: {spec['warps_per_sm']}",
             f"Shared memory capacity per SM: {spec['smem_per_sm']} KB",
             f"Maximum shared memory per thread block: {spec['smem_per_block']} KB",
             f"L2 cache (global, all SM shared): {spec['l2']}"]
    return "\n".join(lines[:3] + ["• " + line for line in lines[3:]])


def resolve_gpu(name: str) -> dict:
    """A GPUS entry by key (case-insensitive), or 'auto': the current CUDA device, by name where the table has it,
    else its reported properties (rates unknown: 'n/a')."""
    if name.lower() != "auto":
        for key, spec in GPUS.items():
            if key.lower() == name.lower():
                return spec
        raise ValueError(f"unknown GPU {name!r}; known: {', '.join(GPUS)} or auto")
    import torch
    if not torch.cuda.is_available():
        raise ValueError("--gpu auto needs a CUDA GPU; name one of: " + ", ".join(GPUS))
    props = torch.cuda.get_device_properties(0)
    for key, spec in GPUS.items():
        if key.lower() in props.name.lower().replace(" ", ""):
            return spec
    return {"name": props.name, "arch": f"sm_{props.major}{props.minor}", "cc": f"{props.major}.{props.minor}",
            "sms": props.multi_processor_count, "bandwidth": "n/a", "tf32": float("nan"), "bf16": float("nan"),
            "fp16": float("nan"), "threads_per_sm": props.max_threads_per_multi_processor,
            "warps_per_sm": props.max_threads_per_multi_processor // 32,
            "smem_per_sm": props.shared_memory_per_multiprocessor // 1024,
            "smem_per_block": props.shared_memory_per_block_optin // 1024, "l2": f"{props.L2_cache_size >> 20} MB"}


def build_prompt(code: str, metrics: dict, gpu: dict | None = None, stage: str | None = None,
                 feedback: str = "") -> str:
    """The whole prompt: the seed's sections in the seed's order and spacing; `feedback` (feedback.py), when not
    empty, as one more section between the metrics and the task."""
    gpu = GPUS[DEFAULT_GPU] if gpu is None else gpu
    stage = STAGES["fused-grid"] if stage is None else stage.strip("\n")
    code = code if code.endswith("\n") else code + "\n"
    extra = f"{feedback.strip()}\n\n" if feedback else ""
    return (f"{HEADER}\n\n{gpu_block(gpu)}\n\n[OPTIMIZATION STAGE]\n\n{stage}\n\n\n\n[CURRENT CODE]\n```python\n"
            f"{code}```\n\n[NCU PROFILING METRICS]\n{json.dumps(metrics, indent=2)}\n\n{extra}{TASK_AND_RULES}")


SECTIONS = ("[OPTIMIZATION STAGE]", "[CURRENT CODE]", "[NCU PROFILING METRICS]", "**Task**")


def split_sections(prompt: str) -> dict:
    """{section marker: text}; the text before the first marker is under 'header'."""
    out, rest = {}, prompt
    previous = "header"
    for marker in SECTIONS:
        head, sep, rest = rest.partition(marker)
        if not sep:
            raise ValueError(f"prompt has no {marker} section")
        out[previous] = head
        previous = marker
    out[previous] = rest
    return out


SEED_METRICS = os.path.join(os.path.dirname(__file__), "seed_metrics.json")


def load_metrics(path):
    """Metrics for a prompt: `seed` (the seed's own, shipped) or a JSON file in the shape `profile` writes ({kernel
    name: {metric: number}}); ValueError with one line saying what is wrong."""
    path = SEED_METRICS if path == "seed" else path
    try:
        with open(path) as fh:
            metrics = json.load(fh)
    except OSError as e:
        raise ValueError(f"cannot read metrics {path}: {e.strerror}") from None
    except ValueError as e:
        raise ValueError(f"{path} is not JSON: {e}") from None
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(f"{path}: expected an object of kernels ({{kernel name: {{metric: number}}}}), as `profile` "
                         "writes")
    for kernel, values in metrics.items():
        if not isinstance(values, dict) or not all(isinstance(v, (int, float)) for v in values.values()):
            raise ValueError(f"{path}: kernel {kernel!r} should map metric names to numbers, as `profile` writes")
    return metrics
