import torch
import torch.nn as nn
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor


# y = x @ W.T + b;  y = 2 * (y * scale);  y = clamp(y, cmin, cmax);  lse = logsumexp(y, dim=1);  out = lse * mish(lse)
#
# Six GEMM kernels, one job each.
# _tf32_lse_mish_kernel, the default (tf32) forward on Hopper, inference and training alike, in one launch: x and W
# reach shared memory through TMA tensor maps that round fp32 to tf32 on the way (ties to even), the tensor cores read
# both from there, and the last program of each row block folds the row block's partials into out (and lse, P in
# training). _tf32_lse_mish_few_rows_kernel is the same for a few rows of x (inference), with W's tile as the first
# operand (no 64-row padding of x, deeper stages of W). Both also serve the forward of bf16 and fp16 models (their
# tensor maps copy 16-bit operands as they are; the kernels keep the name of their first job).
# _fma_lse_mish_few_rows_kernel serves inference on a few rows of fp32 x (one in the tf32 mode, up to eight in the
# fp32 and bf16 modes; _FMA_CONFIGS) in exact fp32 on the CUDA cores, where reading W once is the whole cost.
# _smem_grad_product_kernel runs both backward products of bf16 and fp16 models on Hopper with both operands in shared
# memory (dW = G^T x reads G's tiles transposed there: wgmma's transpose flag for 16-bit operands, no copy).
# The register-operand kernels serve the rest: _register_lse_partials_kernel every other forward (fp32, bf16, float64
# models; tf32 and 16-bit models where TMA cannot describe an operand, and on sm_89), and
# _register_grad_product_kernel the other backward products. Their shared loop (_register_product) computes
# acc[r, c] = sum_j A[r, j] * B[c, j] with A the operand the tensor core reads from registers: rounding, splitting or
# casting it costs one integer/convert op per element, and A is never copied. B, the smaller operand or one written by
# us anyway, is prepared once per call (rounded to tf32, split, or cast) into a buffer with unit stride along j.
#   forward:    A = W (N x K),       B = x (M x K)          -> per-row (max, sum of exp) partials, no (M, N) output
#   grad x:     A = W^T (K x N),     B = G (M x N)          -> dX^T, stored transposed into dX
#   grad W:     A = G^T (N x M),     B = x^T (K x M)        -> dW
# where G[m, n] = d loss / d (x @ W.T + b)[m, n]. Inside the kernels the letters keep their forward meaning:
# N = rows of A, M = rows of B, K = the reduced dimension.
# Each forward tile reduces its rows to a per-column (max, sum of exp) pair; _lse_mish_combine_kernel combines the
# pairs of all tiles in a fixed order, so the result is deterministic and the (M, N) intermediate never reaches
# memory, except when autograd needs it: then the forward also stores the pre-clamp values P (M x N, fp32; fp64 for
# float64 models), which the backward reads once instead of recomputing the GEMM.
#
# Constexprs the kernels share:
# EMULATE (Triton's interpreter only): do explicitly what the hardware does implicitly (the tensor cores truncate an
#                   fp32 operand to tf32; a TFLOAT32 tensor map rounds it) and widen 16-bit operands, which the
#                   interpreter cannot dot.
# MODE (register-operand kernels): 0 = tf32 with operands rounded to nearest; 1 = fp32 via 3xtf32, each K step's
#                   products folded into the accumulator by an IEEE add; 2 = bf16 operands; 3 = native (operands
#                   already bf16/fp16/fp64: plain dot, fp32 or fp64 accumulate).
# SYNC_RS (Hopper): wait for every wgmma that reads A from registers before the next K step (see _register_product).
#
# The host side, after the kernels: the configs; the launch section (one plan type, _Plan, in one cache, _PLANS: every
# kernel launches through _launch or a forward plan, and the TMA forward on Triton 3.6 through the fenced fast launch,
# switch _FAST_LAUNCH); the forward's dispatch (_forward_plan says which kernel runs: "tma", "fma" or "register");
# the backward; the custom ops and autograd; linear_lse_mish and ModelNew.
# Besides linear_lse_mish and ModelNew, lsemish's own modules (distributed.py) call a small API, named without an
# underscore: check_inputs, mode_of, epilogue_dtype, p_dtype, forward_into, forward_path, g_buffers, grad_g_into,
# linear_grads_into.


@triton.jit
def _tf32_round(v):
    # Round to nearest (ties away from zero) onto the 19-bit tf32 grid, in registers: what the register-operand
    # kernels do in their K loops and to the operands they prepare. Exact, so every backend sees the same value.
    # (Ties to even, as the TMA rounds, costs three more integer ops per element: 11 % of the fp32 mode's time.)
    bits = v.to(tl.int32, bitcast=True)
    bits = (bits + 4096) & -8192
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _tf32_round_even(v):
    # What a TFLOAT32 tensor map does to fp32 on its way into shared memory (measured on the H100): round to
    # nearest, ties to even; inf and NaN unchanged. Used where the interpreter emulates that copy.
    bits = v.to(tl.int32, bitcast=True)
    bits = (bits + 4095 + ((bits >> 13) & 1)) & -8192
    return tl.where(tl.abs(v) < float("inf"), bits.to(tl.float32, bitcast=True), v)


@triton.jit
def _tf32_trunc(v):
    # What the tensor core does to an fp32 operand: drop the 13 low mantissa bits.
    bits = v.to(tl.int32, bitcast=True) & -8192
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _grouped_tile(pid, num_pid_m, num_pid_n, GROUP_M: tl.constexpr):
    # Program -> (pid_m, pid_n), GROUP_M tiles of M at a time, so that the tiles of the other operand that
    # consecutive programs read are still in L2.
    group_size = GROUP_M * num_pid_n
    first_m = (pid // group_size) * GROUP_M
    group_m = min(num_pid_m - first_m, GROUP_M)
    return first_m + (pid % group_size) % group_m, (pid % group_size) // group_m


@triton.jit
def _clamped_lse_pair(y, n_ok, clamp_min, clamp_max, AXIS: tl.constexpr):
    # clamp (NaN propagates, as in torch.clamp), then along AXIS (the N axis; n_ok masks its tail): the max and the
    # sum of exp(y - max). An infinite max is replaced by 0, as torch.logsumexp does.
    y = tl.maximum(y, clamp_min, propagate_nan=tl.PropagateNan.ALL)
    y = tl.minimum(y, clamp_max, propagate_nan=tl.PropagateNan.ALL)
    y = tl.where(n_ok, y, -float("inf"))
    y_max = tl.max(y, axis=AXIS)
    y_max = tl.where(tl.abs(y_max) == float("inf"), 0.0, y_max)
    y_sum = tl.sum(tl.exp(y - tl.expand_dims(y_max, AXIS)), axis=AXIS)
    return y_max, y_sum


@triton.jit
def _clamped_exp_pair(y, n_ok, clamp_min, clamp_max, AXIS: tl.constexpr):
    # The partials of a bf16 model's training forward, and what it saves for the backward in P's place (E, p_dtype):
    # every tile's max is clamp_max (finite, at most E_SPAN above clamp_min, so exp(clamp(y) - clamp_max) is a normal
    # fp32 and bf16 number, never 0), so no max reduction; the sum of exp(clamp(y) - clamp_max) along AXIS; and E =
    # those exponentials where torch.clamp passes the gradient (clamp_min <= y <= clamp_max), -1 elsewhere (NaN y
    # included). NaN propagates through the clamp into the sum, as in _clamped_lse_pair.
    yc = tl.maximum(y, clamp_min, propagate_nan=tl.PropagateNan.ALL)
    yc = tl.minimum(yc, clamp_max, propagate_nan=tl.PropagateNan.ALL)
    ex = tl.exp(yc - clamp_max)
    y_sum = tl.sum(tl.where(n_ok, ex, 0.0), axis=AXIS)
    e = tl.where((y >= clamp_min) & (y <= clamp_max), ex, -1.0)
    return tl.zeros_like(y_sum) + clamp_max, y_sum, e


@triton.jit
def _scalars(scale, clamp_min, clamp_max, dtype: tl.constexpr):
    # Python float arguments may arrive as fp32 or fp64, by launcher; the reference applies them in the tensors' type
    # (fp32, or fp64 for a float64 model).
    return tl.cast(scale, dtype), tl.cast(clamp_min, dtype), tl.cast(clamp_max, dtype)


@triton.jit
def _tanh_softplus(y):
    # tanh(softplus(y)) = ((1+e^y)^2 - 1) / ((1+e^y)^2 + 1) and 1 - tanh^2, written in e^-|y| so nothing overflows.
    e = tl.exp(-tl.abs(y))
    num_pos = 1.0 + 2.0 * e
    den_pos = 1.0 + 2.0 * e + 2.0 * e * e
    num_neg = e * e + 2.0 * e
    den_neg = e * e + 2.0 * e + 2.0
    pos = y > 0
    t = tl.where(pos, num_pos / den_pos, num_neg / den_neg)
    # 1 - t^2 = 4 (1+u)^2 / ((1+u)^2 + 1)^2 with u = e^y; in e: u = 1/e for y > 0, u = e otherwise.
    q_pos = (1.0 + e) * e
    d_pos = (1.0 + e) * (1.0 + e) + e * e
    q_neg = 1.0 + e
    d_neg = (1.0 + e) * (1.0 + e) + 1.0
    one_minus_t2 = tl.where(pos, 4.0 * q_pos * q_pos / (d_pos * d_pos), 4.0 * q_neg * q_neg / (d_neg * d_neg))
    sigmoid = tl.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))
    return t, one_minus_t2, sigmoid


@triton.jit
def _tf32_lse_mish_kernel(
    x_desc, w_desc, p_desc, bias_ptr, part_ptr, count_ptr, out_ptr, lse_ptr, M, N, K, stride_out, scale, clamp_min,
    clamp_max, HAS_BIAS: tl.constexpr, EMULATE: tl.constexpr, FIXED_MAX: tl.constexpr, SAVE_P: tl.constexpr,
    SAVE_E: tl.constexpr, SAVE_LSE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    # The default (tf32) forward on Hopper, in one launch. x (M x K) and W (N x K) arrive through TMA tensor maps
    # that round fp32 to tf32 (to nearest, ties to even) while they copy a tile into shared memory; the tensor cores
    # read both operands from there, so nothing passes through registers and Triton pipelines the K loop freely.
    # Each program owns a BLOCK_M x BLOCK_N tile of y = clamp(2 * scale * (x W^T + b)) and writes, per row of x, the
    # tile's (max, sum of exp) to part[0 | 1, pid_n, m]. The last program to finish a row block (count_ptr: one
    # counter per row block, zero at launch and left at zero) folds that block's partials in tile order and writes
    # out = lse * mish(lse).
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, tl.float32)
    tiles = tl.cdiv(N, BLOCK_N)
    pid_m, pid_n = _grouped_tile(tl.program_id(0), tl.cdiv(M, BLOCK_M), tiles, GROUP_M)
    bias = _bias_tile(bias_ptr, pid_n, N, HAS_BIAS, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    # K >= 1; saying so drops the zero-trip path, which made ptxas serialize the wgmmas (its C7515 advisory).
    acc = _tma_tile_product(x_desc, w_desc, pid_m * BLOCK_M, pid_n * BLOCK_N, 0, tl.maximum(tl.cdiv(K, BLOCK_K), 1),
                            acc, EMULATE, BLOCK_K)
    _fold_tile(acc, pid_m, pid_n, p_desc, bias, part_ptr, count_ptr, out_ptr, lse_ptr, M, N, stride_out, scale,
               clamp_min, clamp_max, HAS_BIAS, FIXED_MAX, SAVE_P, SAVE_E, SAVE_LSE, BLOCK_M, BLOCK_N, EMULATE)


@triton.jit
def _tma_tile_product(a_desc, b_desc, row_a, row_b, first, last, acc, EMULATE: tl.constexpr, BLOCK_K: tl.constexpr):
    # acc + A[row_a :, steps first..last) @ B[row_b :, same steps]^T, for the TMA kernels: both operands arrive in
    # shared memory through tensor maps (that round fp32 to tf32, to nearest, ties to even; 16-bit operands are
    # copied as they are), and the tensor cores read them from there; no operand passes through registers, so Triton
    # pipelines the loop freely.
    for k in range(first, last):
        a = a_desc.load([row_a, k * BLOCK_K])
        b = b_desc.load([row_b, k * BLOCK_K])
        if EMULATE:  # the interpreter's copies never round: do what the tensor map does; it cannot dot 16-bit
            if a.dtype == tl.float32:
                a = _tf32_round_even(a)
                b = _tf32_round_even(b)
            else:
                a = a.to(tl.float32)
                b = b.to(tl.float32)
        acc = tl.dot(a, b.T, acc, input_precision="tf32")
    return acc


@triton.jit
def _bf16_rounded(v):
    # fp32 v as a GPU converts it to bf16: to the nearest bf16 value, ties to even (kept in fp32: the interpreter's
    # own conversion truncates).
    u = v.to(tl.uint32, bitcast=True)
    return ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).to(tl.float32, bitcast=True)


@triton.jit
def _as_stored(v, ptr):
    # fp32 v as a store to ptr converts it on a GPU: rounded to bf16 for a bf16 ptr; as it is otherwise.
    if ptr.dtype.element_ty == tl.bfloat16:
        v = _bf16_rounded(v)
    return v


@triton.jit
def _bias_tile(bias_ptr, pid_n, N, HAS_BIAS: tl.constexpr, BLOCK_N: tl.constexpr):
    # The bias of the tile's BLOCK_N columns (zeros without a bias, never added). The TMA kernels load it before
    # their main loop, so that its round trip to memory is not paid after the last K step.
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    if HAS_BIAS:
        return tl.load(bias_ptr + offs_n, mask=offs_n < N, other=0.0)
    else:
        return tl.zeros((BLOCK_N,), dtype=tl.float32)


@triton.jit
def _tile_partials(acc, pid_m, pid_n, p_desc, bias, part_ptr, M, N, scale, clamp_min, clamp_max,
                   HAS_BIAS: tl.constexpr, FIXED_MAX: tl.constexpr, SAVE_P: tl.constexpr, SAVE_E: tl.constexpr,
                   EMULATE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # y = clamp(2 * scale * (acc + b)) of the tile acc = (x W^T)[pid_m, pid_n] (b: the tile's bias, _bias_tile): its
    # per-row (max, sum of exp) into part[0 | 1, pid_n, m], the max clamp_max where FIXED_MAX (fixed_max: no max
    # reduction, _clamped_exp_pair); SAVE_P also stores the pre-clamp values P or, SAVE_E (which needs FIXED_MAX), E
    # in bf16. Returns the tile's rows and which are < M.
    tiles = tl.cdiv(N, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    y = acc
    if HAS_BIAS:
        y = y + bias[None, :]
    y = y * scale
    y = y + y
    if SAVE_P and not SAVE_E:  # the pre-clamp values P (M x N), which the backward reads (TMA bulk store)
        p_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], y)
    if FIXED_MAX:
        row_max, row_sum, e = _clamped_exp_pair(y, offs_n[None, :] < N, clamp_min, clamp_max, 1)
        if SAVE_E:  # E (M x N, bf16) in P's place, which the backward reads (TMA bulk store)
            if EMULATE:  # the conversion to bf16, as a GPU makes it
                e = _bf16_rounded(e)
            p_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], e.to(tl.bfloat16))
    else:
        row_max, row_sum = _clamped_lse_pair(y, offs_n[None, :] < N, clamp_min, clamp_max, 1)
    m_ok = offs_m < M
    tl.store(part_ptr + pid_n * M + offs_m, row_max, mask=m_ok)
    tl.store(part_ptr + (tiles + pid_n) * M + offs_m, row_sum, mask=m_ok)
    return offs_m, m_ok


@triton.jit
def _fold_tile(acc, pid_m, pid_n, p_desc, bias, part_ptr, count_ptr, out_ptr, lse_ptr, M, N, stride_out, scale,
               clamp_min, clamp_max, HAS_BIAS: tl.constexpr, FIXED_MAX: tl.constexpr, SAVE_P: tl.constexpr,
               SAVE_E: tl.constexpr, SAVE_LSE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
               EMULATE: tl.constexpr):
    # The TMA kernels' epilogue for the finished tile acc = (x W^T)[pid_m, pid_n]: the tile's partials
    # (_tile_partials); the last program of the row block folds the block's partials in tile order into out (and lse
    # with SAVE_LSE).
    tiles = tl.cdiv(N, BLOCK_N)
    offs_m, m_ok = _tile_partials(acc, pid_m, pid_n, p_desc, bias, part_ptr, M, N, scale, clamp_min, clamp_max,
                                  HAS_BIAS, FIXED_MAX, SAVE_P, SAVE_E, EMULATE, BLOCK_M, BLOCK_N)
    # Every thread's partials are written before the (release) count; the last program acquires them all.
    tl.debug_barrier()
    if tl.atomic_add(count_ptr + pid_m, 1, sem="acq_rel", scope="gpu") == tiles - 1:
        # Every program of the row block has counted: leave the counter at zero for the next launch (the counters
        # are kept between calls; see _kept_buffers).
        tl.store(count_ptr + pid_m, 0)
        # one chunk of 4096 // BLOCK_M tiles per load: a single load at most shapes (tiles = N / BLOCK_N)
        lse = _lse_of_partials(part_ptr, part_ptr + tiles * M, M, tiles, offs_m, m_ok, 4096 // BLOCK_M)
        if EMULATE:  # the store's conversion to a bf16 out, as a GPU makes it
            tl.store(out_ptr + offs_m * stride_out, _as_stored(_lse_mish(lse), out_ptr), mask=m_ok)
        else:
            tl.store(out_ptr + offs_m * stride_out, _lse_mish(lse), mask=m_ok)
        if SAVE_LSE:  # training, and lsemish.distributed's inference (whose ranks combine their lse)
            tl.store(lse_ptr + offs_m, lse, mask=m_ok)


@triton.jit
def _tf32_lse_mish_few_rows_kernel(
    x_desc, w_desc, bias_ptr, part_ptr, count_ptr, out_ptr, M, N, K, stride_out, scale, clamp_min, clamp_max,
    HAS_BIAS: tl.constexpr, EMULATE: tl.constexpr, FIXED_MAX: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # The default forward for a few rows of x (inference), where reading W once is the whole cost. The operands swap
    # roles: a BLOCK_N-row tile of W is the tensor core's first operand and BLOCK_M (as few as 16) rows of x its
    # second, so x is not padded to 64 rows and shared memory holds more stages of W; acc = (W x^T)[tile], and the
    # epilogue is the one-tile-per-program kernel's.
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, tl.float32)
    tile = tl.program_id(0)
    row_blocks = tl.cdiv(M, BLOCK_M)
    pid_m, pid_n = tile % row_blocks, tile // row_blocks
    bias = _bias_tile(bias_ptr, pid_n, N, HAS_BIAS, BLOCK_N)
    acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    acc = _tma_tile_product(w_desc, x_desc, pid_n * BLOCK_N, pid_m * BLOCK_M, 0, tl.maximum(tl.cdiv(K, BLOCK_K), 1),
                            acc, EMULATE, BLOCK_K)
    _fold_tile(tl.trans(acc), pid_m, pid_n, None, bias, part_ptr, count_ptr, out_ptr, out_ptr, M, N, stride_out,
               scale, clamp_min, clamp_max, HAS_BIAS, FIXED_MAX, False, False, False, BLOCK_M, BLOCK_N, EMULATE)


@triton.jit
def _fma_lse_mish_few_rows_kernel(
    x_ptr, w_ptr, bias_ptr, part_ptr, count_ptr, out_ptr, M, N, K, stride_xm, stride_xk, stride_wn, stride_wk,
    stride_out, scale, clamp_min, clamp_max, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    # The forward for a few rows of x (inference) in exact fp32, on the CUDA cores: reading W once is the whole cost
    # there, and fp32 FMAs keep up with it. Each program streams BLOCK_N rows of W (BLOCK_K columns per load, past
    # L1: each element is read once) against all M <= BLOCK_M rows of x (which stay in L1), keeps BLOCK_K partial
    # sums per output, adds them at the end; the epilogue is the TMA kernels' (_fold_tile).
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, tl.float32)
    pid_n = tl.program_id(0)
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * stride_xm
    w_rows = w_ptr + offs_n[:, None].to(tl.int64) * stride_wn
    m_ok, n_ok = (offs_m < M)[:, None], (offs_n < N)[:, None]
    acc = tl.zeros((BLOCK_M, BLOCK_N, BLOCK_K), dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        k_ok = (k + offs_k < K)[None, :]
        xt = tl.load(x_rows + (k + offs_k)[None, :] * stride_xk, mask=m_ok & k_ok, other=0.0)
        wt = tl.load(w_rows + (k + offs_k)[None, :] * stride_wk, mask=n_ok & k_ok, other=0.0, cache_modifier=".cg")
        acc += xt[:, None, :] * wt[None, :, :]
    bias = _bias_tile(bias_ptr, pid_n, N, HAS_BIAS, BLOCK_N)
    _fold_tile(tl.sum(acc, axis=2), 0, pid_n, None, bias, part_ptr, count_ptr, out_ptr, out_ptr, M, N, stride_out,
               scale, clamp_min, clamp_max, HAS_BIAS, False, False, False, False, BLOCK_M, BLOCK_N, False)


@triton.jit
def _prepare_b_kernel(
    src_ptr, hi_ptr, lo_ptr, flag_ptr, M, K, stride_sm, stride_sk,
    MODE: tl.constexpr, WRITE_HI: tl.constexpr, FLAG_INF: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    # One pass over a B operand (any strides) into contiguous (M, K) buffers:
    # MODE 0: hi = round(v) to tf32;  MODE 1: hi = v, lo = round(v - trunc(v)), the low part for 3xtf32;
    # MODE 2: hi = v cast to bf16;  MODE 3: hi = v in its own type. Non-finite values pass through unrounded
    # (MODE 0) or give a zero low part (MODE 1).
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    mask = (offs_m[:, None] < M) & (offs_k[None, :] < K)
    src = src_ptr + offs_m[:, None].to(tl.int64) * stride_sm + offs_k[None, :].to(tl.int64) * stride_sk
    raw = tl.load(src, mask=mask, other=0.0)
    v = raw.to(tl.float32)
    finite = tl.abs(v) < float("inf")
    dst = offs_m[:, None].to(tl.int64) * K + offs_k[None, :]
    if WRITE_HI:
        if MODE == 0:
            hi = tl.where(finite, _tf32_round(v), v)
        elif MODE == 3:
            hi = raw
        else:
            hi = v
        tl.store(hi_ptr + dst, hi.to(hi_ptr.dtype.element_ty), mask=mask)
    if MODE == 1:
        lo = tl.where(finite, _tf32_round(v - _tf32_trunc(v)), 0.0)
        tl.store(lo_ptr + dst, lo, mask=mask)
    if FLAG_INF:
        # Rows holding +-inf, for the fp32 mode's second pass (see forward_into).
        row_inf = tl.max((tl.abs(v) == float("inf")).to(tl.int32), axis=1)
        tl.atomic_max(flag_ptr + offs_m, row_inf, mask=(offs_m < M) & (row_inf > 0))


@triton.jit
def _register_k_step(a, bt, lo, acc, MODE: tl.constexpr, EMULATE: tl.constexpr):
    # One K step of the register-operand products, acc + A B^T in MODE's arithmetic (a: A's tile as loaded, bt: B's
    # tile transposed, lo: B's 3xtf32 low part, fp32 mode only).
    if MODE == 0:
        acc = tl.dot(_tf32_round(a), bt, acc, input_precision="tf32")
    elif MODE == 1:
        if EMULATE:
            bt = _tf32_trunc(bt)
        a_hi = _tf32_round(a)
        # An infinite (or NaN) A element takes part in the high product only: its low part, and its high part where
        # it meets B's low part, are 0, so that no inf - inf or inf * 0 gives NaN where the reference has +-inf.
        finite = tl.abs(a) < float("inf")
        a_lo = tl.where(finite, _tf32_round(a - a_hi), 0.0)
        # The tensor core's own accumulation is not IEEE fp32 (it loses low bits of small addends), so the three
        # products of this K step go into a fresh accumulator that an IEEE add folds into acc.
        part = tl.dot(a_lo, bt, tl.zeros_like(acc), input_precision="tf32")
        part = tl.dot(tl.where(finite, a_hi, 0.0), lo, part, input_precision="tf32")
        part = tl.dot(a_hi, bt, part, input_precision="tf32")
        acc = acc + part
    elif EMULATE:
        # Triton's interpreter cannot dot 16-bit floats: the same products in a wider type.
        acc = tl.dot(a.to(bt.dtype).to(acc.dtype), bt.to(acc.dtype), acc, input_precision="ieee",
                     out_dtype=acc.dtype)
    elif MODE == 2:
        acc = tl.dot(a.to(tl.bfloat16), bt, acc)
    else:
        acc = tl.dot(a, bt, acc, out_dtype=acc.dtype)
    return acc


@triton.jit
def _register_product(a_ptr, b_ptr, lo_ptr, row_n, row_m, N, M, K, stride_an, stride_ak, stride_bm, stride_bk,
                      MODE: tl.constexpr, EMULATE: tl.constexpr, ACC_DTYPE: tl.constexpr, USE_TMA: tl.constexpr,
                      SYNC_RS: tl.constexpr, A_T: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr,
                      BLOCK_K: tl.constexpr):
    # acc[n, m] = sum_k A[n, k] * B[m, k] over BLOCK_N rows of A from row_n, BLOCK_M of B from row_m: A any strides, the
    # tensor core's register operand (A_T: its unit stride runs along n); B (and lo) unit stride along k with TMA.
    # With TMA (Hopper bulk tensor copies), out-of-range rows and the K tail arrive as zeros.
    if USE_TMA:
        if A_T:
            a_desc = tl.make_tensor_descriptor(a_ptr, shape=[K, N], strides=[stride_ak, 1],
                                               block_shape=[BLOCK_K, BLOCK_N])
        else:
            a_desc = tl.make_tensor_descriptor(a_ptr, shape=[N, K], strides=[stride_an, 1],
                                               block_shape=[BLOCK_N, BLOCK_K])
        b_desc = tl.make_tensor_descriptor(b_ptr, shape=[M, K], strides=[stride_bm, 1], block_shape=[BLOCK_M, BLOCK_K])
        lo_desc = tl.make_tensor_descriptor(lo_ptr, shape=[M, K], strides=[K, 1], block_shape=[BLOCK_M, BLOCK_K])
    else:
        offs_k = tl.arange(0, BLOCK_K)
        rows_n = ((row_n + tl.arange(0, BLOCK_N)) % N).to(tl.int64)
        rows_m = ((row_m + tl.arange(0, BLOCK_M)) % M).to(tl.int64)
        a_ptrs = a_ptr + rows_n[:, None] * stride_an + offs_k[None, :] * stride_ak
        bt_ptrs = b_ptr + offs_k[:, None] * stride_bk + rows_m[None, :] * stride_bm
        lo_ptrs = lo_ptr + offs_k[:, None] + rows_m[None, :] * K
    # K >= 1, so the loop runs at least once; saying so lets the compiler drop the zero-trip path, whose accumulator
    # moves made ptxas serialize every wgmma (its C7515 advisory).
    num_k = tl.maximum(tl.cdiv(K, BLOCK_K), 1)
    acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=ACC_DTYPE)
    for k in range(0, num_k):
        if USE_TMA:
            if A_T:
                a = a_desc.load([k * BLOCK_K, row_n]).T
            else:
                a = a_desc.load([row_n, k * BLOCK_K])
            bt = b_desc.load([row_m, k * BLOCK_K]).T
            lo = lo_desc.load([row_m, k * BLOCK_K]).T if MODE == 1 else bt
        else:
            k_left = K - k * BLOCK_K
            a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0.0)
            bt = tl.load(bt_ptrs, mask=offs_k[:, None] < k_left, other=0.0)
            lo = tl.load(lo_ptrs, mask=offs_k[:, None] < k_left, other=0.0) if MODE == 1 else bt
            a_ptrs += BLOCK_K * stride_ak
            bt_ptrs += BLOCK_K * stride_bk
            lo_ptrs += BLOCK_K
        acc = _register_k_step(a, bt, lo, acc, MODE, EMULATE)
        if SYNC_RS and MODE != 3:
            # Hopper reads a register A operand asynchronously: it must not be overwritten before its wgmma has
            # completed (PTX ISA, wgmma.wait_group). Triton 3.6 pipelines such dots with too few waits, so the next
            # K step's rounded A can land in registers a pending wgmma still reads (triton-lang/triton#9433; seen
            # here as wrong, unrepeatable results). An opaque use of the accumulator makes Triton wait for every
            # wgmma before the loop goes on; ptxas folds the move away.
            acc = tl.inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", [acc], dtype=tl.float32, is_pure=True, pack=1)
    return acc


@triton.jit
def _register_lse_partials_kernel(
    w_ptr, b_ptr, lo_ptr, bias_ptr, part_max_ptr, part_sum_ptr, p_ptr, flag_ptr, N, M, K,
    stride_wn, stride_wk, stride_bm, stride_bk, scale, clamp_min, clamp_max,
    MODE: tl.constexpr, HAS_BIAS: tl.constexpr, EMULATE: tl.constexpr, ACC_DTYPE: tl.constexpr,
    USE_TMA: tl.constexpr, SYNC_RS: tl.constexpr, STORE_P: tl.constexpr, STORE_E: tl.constexpr,
    ONLY_FLAGGED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # Every forward but the default Hopper one: acc = (W x^T)[tile], W (N x K) the register operand and B the
    # prepared x (M x K; lo its 3xtf32 low part). Per column m of the tile (a row of x): the (max, sum of exp) of
    # clamp(2 * scale * (acc + bias)) into part_max / part_sum[pid_n, m], which _lse_mish_combine_kernel folds.
    # STORE_P also stores the pre-clamp values into p (M x N, contiguous; with TMA a bulk store, which keeps the
    # registers of the tf32 config at 128, so two CTAs still share an SM); STORE_E stores E in bf16 instead
    # (_clamped_exp_pair). ONLY_FLAGGED: redo only the columns flagged in flag_ptr (the fp32 mode's second pass over
    # rows of x holding +-inf).
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, ACC_DTYPE)
    pid_m, pid_n = _grouped_tile(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N), GROUP_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    write_m = offs_m < M
    if ONLY_FLAGGED:
        write_m = write_m & (tl.load(flag_ptr + offs_m, mask=offs_m < M, other=0) != 0)
        if tl.max(write_m.to(tl.int32), axis=0) == 0:  # no flagged row in this tile: nothing to do
            return
    acc = _register_product(w_ptr, b_ptr, lo_ptr, pid_n * BLOCK_N, pid_m * BLOCK_M, N, M, K, stride_wn, stride_wk,
                            stride_bm, stride_bk, MODE, EMULATE, ACC_DTYPE, USE_TMA, SYNC_RS, False, BLOCK_N, BLOCK_M,
                            BLOCK_K)
    # Epilogue (fp32; fp64 for float64 models): bias, scale, doubling, clamp (NaN propagates as in torch.clamp).
    y = acc
    if HAS_BIAS:
        y = y + tl.load(bias_ptr + offs_n, mask=offs_n < N, other=0.0).to(ACC_DTYPE)[:, None]
    y = y * scale
    y = y + y
    if STORE_E:
        col_max, col_sum, saved = _clamped_exp_pair(y, offs_n[:, None] < N, clamp_min, clamp_max, 0)
        if EMULATE:  # the conversion to bf16, as a GPU makes it
            saved = _bf16_rounded(saved)
        saved = saved.to(tl.bfloat16)
    else:
        saved = y
    if STORE_P:
        if USE_TMA:
            # (per-element 64-bit pointers took the tf32 config from 128 to 255 registers: one CTA per SM)
            p_desc = tl.make_tensor_descriptor(p_ptr, shape=[M, N], strides=[N, 1], block_shape=[BLOCK_M, BLOCK_N])
            p_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], tl.trans(saved))
        else:
            dst = p_ptr + offs_m[None, :].to(tl.int64) * N + offs_n[:, None]
            tl.store(dst, saved, mask=(offs_n[:, None] < N) & (offs_m[None, :] < M))
    if not STORE_E:
        col_max, col_sum = _clamped_lse_pair(y, offs_n[:, None] < N, clamp_min, clamp_max, 0)
    dst = pid_n * M + offs_m
    tl.store(part_max_ptr + dst, col_max, mask=write_m)
    tl.store(part_sum_ptr + dst, col_sum, mask=write_m)


@triton.jit
def _register_grad_product_kernel(
    a_ptr, b_ptr, lo_ptr, out_ptr, N, M, K, stride_an, stride_ak, stride_bm, stride_bk, stride_on, stride_om,
    MODE: tl.constexpr, EMULATE: tl.constexpr, ACC_DTYPE: tl.constexpr, USE_TMA: tl.constexpr,
    SYNC_RS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # The backward products: out[n * stride_on + m * stride_om] = sum_k A[n, k] * B[m, k], A read transposed (its
    # unit stride runs along n) as the register operand, B prepared (lo: its 3xtf32 low part).
    pid_m, pid_n = _grouped_tile(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N), GROUP_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    acc = _register_product(a_ptr, b_ptr, lo_ptr, pid_n * BLOCK_N, pid_m * BLOCK_M, N, M, K, stride_an, stride_ak,
                            stride_bm, stride_bk, MODE, EMULATE, ACC_DTYPE, USE_TMA, SYNC_RS, True, BLOCK_N, BLOCK_M,
                            BLOCK_K)
    dst = out_ptr + offs_n[:, None].to(tl.int64) * stride_on + offs_m[None, :].to(tl.int64) * stride_om
    tl.store(dst, acc.to(out_ptr.dtype.element_ty), mask=(offs_n[:, None] < N) & (offs_m[None, :] < M))


@triton.jit
def _smem_grad_product_kernel(
    a_desc, b_desc, out_desc, out_ptr, ROWS, COLS, RED, stride_out, TRANS_A: tl.constexpr, EMULATE: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
    PROGRAMS: tl.constexpr, TMA_STORE: tl.constexpr,
):
    # The backward products of bf16 and fp16 models on Hopper: out (ROWS x COLS) = A (ROWS x RED) @ B (RED x COLS),
    # both 16-bit operands copied by TMA into shared memory and read from there by the tensor cores (no register
    # operand, so the K loop pipelines freely). A arrives as stored: RED x ROWS when TRANS_A (dW = G^T x reads G's
    # tiles transposed in shared memory: wgmma takes 16-bit operands in either major order, so G is never copied).
    #   grad x: A = G (M x N), B = W (N x K) -> dX;   grad W: A = G^T (G stored M x N), B = x (M x K) -> dW
    # Persistent: program p of the launch's min(PROGRAMS, tiles) walks tiles p, p + PROGRAMS, ... in grouped order,
    # the tile loop and the K loop one software-pipelined loop (flatten), so the next tile's copies are in flight
    # while this tile is stored. dW reduces over the batch (16 steps at 1024 rows), where a tile's pipeline fill and
    # store are an eighth of its time; cuBLAS's kernel is persistent too (perf-notes, session 26).
    row_blocks, col_blocks = tl.cdiv(ROWS, BLOCK_R), tl.cdiv(COLS, BLOCK_C)
    steps = tl.maximum(tl.cdiv(RED, BLOCK_K), 1)
    # The store counts its own tiles: the flattened loop's loads run ahead of it, so it must not read the loop's.
    stored = tl.program_id(0) - PROGRAMS
    for tile in tl.range(tl.program_id(0), row_blocks * col_blocks, PROGRAMS, flatten=True):
        pid_r, pid_c = _grouped_tile(tile, row_blocks, col_blocks, GROUP_M)
        acc = tl.zeros((BLOCK_R, BLOCK_C), dtype=tl.float32)
        for k in range(0, steps):
            if TRANS_A:
                a = a_desc.load([k * BLOCK_K, pid_r * BLOCK_R]).T
            else:
                a = a_desc.load([pid_r * BLOCK_R, k * BLOCK_K])
            b = b_desc.load([k * BLOCK_K, pid_c * BLOCK_C])
            if EMULATE:  # the interpreter cannot dot 16-bit operands
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            acc = tl.dot(a, b, acc)
        stored += PROGRAMS
        st_r, st_c = _grouped_tile(stored, row_blocks, col_blocks, GROUP_M)
        if EMULATE:  # the store's conversion to a bf16 out, as a GPU makes it (then exact in the interpreter's)
            acc = _as_stored(acc, out_ptr)
        if TMA_STORE:  # the tile through shared memory by two bulk copies of half a tile each (clipped at the edges)
            left, right = tl.split(tl.permute(tl.reshape(acc, (BLOCK_R, 2, BLOCK_C // 2)), (0, 2, 1)))
            out_desc.store([st_r * BLOCK_R, st_c * BLOCK_C], left.to(out_ptr.dtype.element_ty))
            out_desc.store([st_r * BLOCK_R, st_c * BLOCK_C + BLOCK_C // 2], right.to(out_ptr.dtype.element_ty))
        else:
            offs_r = st_r * BLOCK_R + tl.arange(0, BLOCK_R)
            offs_c = st_c * BLOCK_C + tl.arange(0, BLOCK_C)
            dst = out_ptr + offs_r[:, None].to(tl.int64) * stride_out + offs_c[None, :]
            mask = (offs_r[:, None] < ROWS) & (offs_c[None, :] < COLS)
            tl.store(dst, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lse_of_partials(part_max_ptr, part_sum_ptr, M, num_tiles, offs, mask, CHUNK: tl.constexpr):
    # Fold the tiles' (max, sum of exp) pairs of rows offs into lse per row, in a fixed order (deterministic), in one
    # pass: CHUNK tiles per load, both halves of the pair together (independent loads in flight, not an L2 round trip
    # per tile), the running sum rescaled when a chunk raises the running max. Loads bypass L1 (.cg): other programs
    # wrote these partials during this launch. (A tile's max is finite or NaN; -inf marks a row outside mask.)
    row_max = tl.full(offs.shape, -float("inf"), part_max_ptr.dtype.element_ty)  # fp32, or fp64 for float64 models
    total = tl.zeros(offs.shape, part_sum_ptr.dtype.element_ty)
    chunk = tl.arange(0, CHUNK)
    for t0 in range(0, num_tiles, CHUNK):
        ok = ((t0 + chunk)[:, None] < num_tiles) & mask[None, :]
        at = (t0 + chunk)[:, None] * M + offs[None, :]
        t_max = tl.load(part_max_ptr + at, mask=ok, other=-float("inf"), cache_modifier=".cg")
        t_sum = tl.load(part_sum_ptr + at, mask=ok, other=0.0, cache_modifier=".cg")
        new_max = tl.maximum(row_max, tl.max(t_max, axis=0))
        base = tl.where(new_max == -float("inf"), 0.0, new_max)
        total = total * tl.exp(row_max - base) + tl.sum(t_sum * tl.exp(t_max - base[None, :]), axis=0)
        row_max = new_max
    row_max = tl.where(row_max == -float("inf"), 0.0, row_max)
    return row_max + tl.log(tl.where(mask, total, 1.0))  # rows outside mask: nothing was summed


@triton.jit
def _lse_mish(lse):
    # lse * mish(lse) = lse^2 * tanh(softplus(lse))
    tanh_sp, _, _ = _tanh_softplus(lse)
    return lse * (lse * tanh_sp)


@triton.jit
def _lse_mish_combine_kernel(
    part_max_ptr, part_sum_ptr, out_ptr, lse_ptr, M, num_tiles, stride_out,
    SAVE_LSE: tl.constexpr, BLOCK: tl.constexpr,
):
    # Combine the tiles' (max, sum) pairs of the register-operand kernel, then out = lse * mish(lse).
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    lse = _lse_of_partials(part_max_ptr, part_sum_ptr, M, num_tiles, offs, mask, 8)
    tl.store(out_ptr + offs * stride_out, _lse_mish(lse).to(out_ptr.dtype.element_ty), mask=mask)
    if SAVE_LSE:
        tl.store(lse_ptr + offs, lse, mask=mask)


@triton.jit
def _lse_mish_grad_kernel(
    p_ptr, lse_ptr, g_ptr, g_hi_ptr, g_lo_ptr, db_ptr, M, N, stride_g,
    scale, clamp_min, clamp_max,
    MODE: tl.constexpr, HAS_BIAS: tl.constexpr, FROM_E: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr, STAGES: tl.constexpr,
):
    # G[m, n] = d loss / d (x @ W.T + b)[m, n]
    #         = 2 * scale * [cmin <= P <= cmax] * exp(P - lse[m]) * dout/dlse[m] * g[m],
    # dout/dlse = 2 lse t + lse^2 (1 - t^2) sigmoid(lse), t = tanh(softplus(lse)). Written as the B operand of the
    # grad-x GEMM (MODE 0: rounded to tf32; 1: as is, plus its 3xtf32 low part; 2: bf16; 3: the model's dtype).
    # FROM_E: p holds E (bf16: _clamped_exp_pair), the bracket and the exponential of P - clamp_max in one, -1 where
    # the bracket is 0: exp(P - lse) = exp(clamp_max - lse) * E.
    # db[n] = sum_m G[m, n]: each program owns BLOCK_N columns and walks all rows in order, so it is deterministic.
    acc_ty = lse_ptr.dtype.element_ty  # fp32, or fp64 for float64 models
    scale, clamp_min, clamp_max = _scalars(scale, clamp_min, clamp_max, acc_ty)
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    db = tl.zeros((BLOCK_N,), acc_ty)
    for m0 in tl.range(0, M, BLOCK_M, num_stages=STAGES):  # STAGES: loads of later row blocks in flight
        offs_m = m0 + tl.arange(0, BLOCK_M)
        lse = tl.load(lse_ptr + offs_m, mask=offs_m < M, other=0.0)
        g = tl.load(g_ptr + offs_m.to(tl.int64) * stride_g, mask=offs_m < M, other=0.0).to(acc_ty)
        t, one_minus_t2, sig = _tanh_softplus(lse)
        coef = g * (lse * (2.0 * t + lse * one_minus_t2 * sig)) * (2.0 * scale)
        mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
        idx = offs_m[:, None].to(tl.int64) * N + offs_n[None, :]
        if FROM_E:
            e = tl.load(p_ptr + idx, mask=mask, other=-1.0).to(acc_ty)
            # (exp(clamp_max - lse) * E first: it is exp(P - lse) <= 1, so a large coef cannot overflow through it)
            grad = tl.where(e >= 0.0, coef[:, None] * (tl.exp(clamp_max - lse)[:, None] * e), 0.0)
        else:
            p = tl.load(p_ptr + idx, mask=mask, other=0.0)
            # torch.clamp passes the gradient where min <= input <= max (both inclusive); NaN input passes none.
            inside = (p >= clamp_min) & (p <= clamp_max) & mask
            grad = tl.where(inside, coef[:, None] * tl.exp(p - lse[:, None]), 0.0)
        db += tl.sum(grad, axis=0)
        if MODE == 0:
            tl.store(g_hi_ptr + idx, tl.where(tl.abs(grad) < float("inf"), _tf32_round(grad), grad), mask=mask)
        else:
            tl.store(g_hi_ptr + idx, grad.to(g_hi_ptr.dtype.element_ty), mask=mask)
        if MODE == 1:
            tl.store(g_lo_ptr + idx, _tf32_round(grad - _tf32_trunc(grad)), mask=mask)
    if HAS_BIAS:
        tl.store(db_ptr + offs_n, db.to(db_ptr.dtype.element_ty), mask=offs_n < N)


PRECISIONS = ("tf32", "fp32", "bf16")
_MODE_OF = {"tf32": 0, "fp32": 1, "bf16": 2}
_NATIVE_DTYPES = (torch.bfloat16, torch.float16, torch.float64)
_DTYPES = (torch.float32,) + _NATIVE_DTYPES
_B_DTYPE = {0: torch.float32, 1: torch.float32, 2: torch.bfloat16}
# Backward P -> G kernel (_lse_mish_grad_kernel): rows per step, columns per program, warps, pipelined row blocks; by
# the model's element size. 16-bit models (G half the bytes): 16 columns, twice the programs, 0.0211 ms against 32
# columns' 0.0245 at 1024 x 8192 (H200, benchmarks/backward/sweep_g_kernel.py, perf-notes session 25).
_GRAD_CONFIGS = {2: dict(BLOCK_M=128, BLOCK_N=16, num_warps=4, STAGES=3),
                 4: dict(BLOCK_M=128, BLOCK_N=32, num_warps=4, STAGES=3),
                 8: dict(BLOCK_M=128, BLOCK_N=32, num_warps=4, STAGES=3)}
# The 16-bit backward products on Hopper (_smem_grad_product_kernel): output tile BLOCK_R x BLOCK_C, BLOCK_K of the
# reduced dimension per step, L2 grouping, warps, stages (4 x 48 KB of shared memory), the tile stored by bulk copies
# (TMA_STORE, where TMA can describe the output). H200 on an idle GPU (perf-notes, session 26), bf16 at
# 1024 x 8192 x 8192: dX 0.993x cuBLAS mm, dW 1.002x (the one-tile-per-program kernel before it: 1.004x, 1.12x).
_SMEM_GRAD_CONFIGS = {
    "sm90": dict(BLOCK_R=128, BLOCK_C=256, BLOCK_K=64, GROUP_M=8, num_warps=8, num_stages=4, TMA_STORE=True),
    "interpreter": dict(BLOCK_R=16, BLOCK_C=16, BLOCK_K=16, GROUP_M=2, num_warps=4, num_stages=1),
}


def _register_config(BLOCK_N, BLOCK_M, BLOCK_K, GROUP_M, num_warps, num_stages, tma):
    # A register-operand kernel's config: BLOCK_N rows of A (the register operand), BLOCK_M rows of B, BLOCK_K, L2
    # grouping, warps, stages; tma: bulk tensor copies where the operands allow (Hopper).
    return dict(BLOCK_N=BLOCK_N, BLOCK_M=BLOCK_M, BLOCK_K=BLOCK_K, GROUP_M=GROUP_M, num_warps=num_warps,
                num_stages=num_stages, tma=tma)


# The register-operand kernels' configs by architecture and mode (0 tf32, 1 fp32, 2 bf16, 3 native). sm_89 rows fit
# the 4090's 99 KB of shared memory per block; Hopper rows use its 227 KB. TMA is used on Hopper when the row strides
# and pointers are 16-byte aligned; otherwise plain pointer loads.
_CONFIGS = {
    "sm90": {0: _register_config(128, 128, 32, 8, 8, 3, True), 1: _register_config(128, 128, 32, 8, 8, 4, True),
             2: _register_config(128, 256, 64, 8, 8, 3, True), 3: _register_config(256, 128, 64, 8, 8, 3, True)},
    "sm89": {0: _register_config(128, 128, 32, 8, 8, 3, False), 1: _register_config(128, 64, 32, 8, 4, 3, False),
             2: _register_config(128, 128, 32, 8, 8, 3, False), 3: _register_config(128, 128, 64, 8, 8, 3, False)},
    "interpreter": {m: _register_config(32, 16, 16, 4, 4, 1, False) for m in range(4)},
}
# float64 models (no tensor-core path worth tuning): small tiles that fit either GPU's shared memory.
_FP64_CONFIG = _register_config(64, 64, 16, 8, 4, 2, False)


# The TMA-rounded tf32 forward (_tf32_lse_mish_kernel): tile, L2 grouping, warps, stages. Chosen by the shape from
# an H100 sweep (docs/perf-notes.md, Session 4): "small" up to SMALL_M rows of x (W streamed by 64-row tiles of x);
# "large", 128 x 256 x 32 with 3 stages (147 KB of shared memory), where its tiles fill every SM at least once;
# "medium" in between. Up to FEW_M rows (inference), "few": _tf32_lse_mish_few_rows_kernel, BLOCK_M the rows of x
# rounded up to a power of two (16 at least), as many stages as fit FEW_SMEM (perf-notes, Session 5: 0.92-1.02x
# cuBLAS at M = 1-32 against 0.94-1.13x for one tile per program; from 64 rows on the latter is faster). 16-bit
# models' few rows: "few16", where the table has it (H200, perf-notes, session 25: 64-row tiles of W, 128 programs,
# 1.09x cuBLAS bf16 at 1-32 rows against 1.12-1.13x for "few").
_TF32_TMA_CONFIGS = {
    "sm90": {"SMALL_M": 128, "FEW_M": 32, "FEW_SMEM": 200 * 1024,
             "few": dict(BLOCK_M=32, BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=8),
             "few16": dict(BLOCK_M=32, BLOCK_N=64, BLOCK_K=128, num_warps=4, num_stages=8),
             "small": dict(BLOCK_M=64, BLOCK_N=128, BLOCK_K=64, GROUP_M=8, num_warps=4, num_stages=4),
             "medium": dict(BLOCK_M=64, BLOCK_N=256, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=4),
             "large": dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=32, GROUP_M=8, num_warps=8, num_stages=3)},
    "interpreter": {"SMALL_M": 8, "FEW_M": 4, "FEW_SMEM": 2**20,
                    "few": dict(BLOCK_M=16, BLOCK_N=16, BLOCK_K=16, num_warps=4, num_stages=1),
                    "small": dict(BLOCK_M=8, BLOCK_N=16, BLOCK_K=16, GROUP_M=2, num_warps=4, num_stages=1),
                    "medium": dict(BLOCK_M=8, BLOCK_N=32, BLOCK_K=16, GROUP_M=2, num_warps=4, num_stages=1),
                    "large": dict(BLOCK_M=16, BLOCK_N=32, BLOCK_K=16, GROUP_M=2, num_warps=4, num_stages=1)},
}


# The exact-fp32 forward for a few rows of x (_fma_lse_mish_few_rows_kernel): in inference with fp32 x, up to
# MAX_M[mode] rows in the tf32 (0), fp32 (1) and bf16 (2) modes (x's block: the rows rounded up to a power of two);
# BLOCK_N rows of W per program, BLOCK_K columns per load, warps.
# H100 (perf-notes, Session 7): at one row, W read at 2.85 TB/s against the TMA few-rows kernel's 2.79 (0.86x cuBLAS tf32 vs
# 0.87x) with rel-L2 4e-8 instead of 3e-6; from two rows on the tensor cores are faster. The fp32 mode's
# register-operand kernel reads W at 0.75 TB/s at any M up to 32: the FMA kernel is 2.2-3.9x faster up to 8 rows
# (0.82-0.87x cuBLAS fp32 at 8192 x 8192), slower from 16. The bf16 mode (2), whose register-operand kernel takes
# 0.18-0.19 ms there, gets it too: more accurate than asked, and faster.
_FMA_CONFIGS = {
    "sm90": dict(MAX_M={0: 1, 1: 8, 2: 8}, BLOCK_N=8, BLOCK_K=512, num_warps=8),
    "sm89": dict(MAX_M={0: 1, 1: 8, 2: 8}, BLOCK_N=8, BLOCK_K=512, num_warps=8),
    "interpreter": dict(MAX_M={0: 1, 1: 8, 2: 8}, BLOCK_N=2, BLOCK_K=16, num_warps=4),
}


def _register_config_of(arch, mode, dtype):
    return _FP64_CONFIG if dtype == torch.float64 and arch != "interpreter" else _CONFIGS[arch][mode]


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    return precision


def _cdiv(a, b):
    # Host-side ceil division (triton.cdiv costs ~3 us a call on the host; a launch path makes several).
    return -(-a // b)


def _interpreting():
    return bool(triton.knobs.runtime.interpret)


def check_inputs(x, weight, bias):
    for name, t in (("x", x), ("weight", weight)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be floating point (float32, bfloat16, float16, float64); got {t.dtype}")
    dtype, x_shape, w_shape = x.dtype, x.shape, weight.shape
    if len(x_shape) != 2:
        raise ValueError(f"x must be 2-D (batch, in_features); got shape {tuple(x_shape)}")
    if len(w_shape) != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features); got shape {tuple(w_shape)}")
    if x_shape[1] != w_shape[1]:
        raise ValueError(f"x has {x_shape[1]} features but weight expects {w_shape[1]} "
                         f"(x {tuple(x_shape)}, weight {tuple(w_shape)})")
    if dtype != weight.dtype:
        raise TypeError(f"x and weight dtypes differ: x {dtype}, weight {weight.dtype}")
    if dtype not in _DTYPES:
        raise TypeError(f"unsupported dtype {dtype}; supported: float32, bfloat16, float16, float64")
    device = x.device
    if device != weight.device:
        raise ValueError(f"x and weight are on different devices: x {device}, weight {weight.device}")
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
        if bias.shape != (w_shape[0],):
            raise ValueError(f"bias must have shape ({w_shape[0]},); got {tuple(bias.shape)}")
        if bias.device != device:
            raise ValueError(f"bias is on {bias.device} but x is on {device}")
        if bias.dtype != dtype:
            raise TypeError(f"bias dtype {bias.dtype} differs from x dtype {dtype}")
    if w_shape[0] == 0 or w_shape[1] == 0:
        raise ValueError(f"weight must have at least one row and one column; got shape {tuple(w_shape)}")


def _device_scope(x):
    """The context the kernels launch in: x's CUDA device (nothing to switch if it is the current one, or for CPU
    tensors under the interpreter)."""
    if x.device.type != "cuda":
        if not _interpreting():
            raise ValueError(f"lsemish needs CUDA tensors; got x on {x.device} "
                             "(set TRITON_INTERPRET=1 to run the kernels on the CPU through Triton's interpreter)")
        return _SAME_DEVICE
    if x.device.index == torch._C._cuda_getDevice():
        return _SAME_DEVICE
    return torch.cuda.device(x.device)


class _SameDevice:
    # A context that changes nothing (the seed's module imports only torch and triton, so not contextlib's).
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_SAME_DEVICE = _SameDevice()


_DEVICE_FACTS = {}  # device index -> (config family, multiprocessors)


def _device_facts(device):
    facts = _DEVICE_FACTS.get(device.index)
    if facts is None:
        props = torch.cuda.get_device_properties(device)
        if props.major < 8:  # the kernels use tf32 and bf16 tensor-core instructions (sm_80 on)
            raise RuntimeError(f"lsemish needs a GPU of compute capability 8.0 or newer; {props.name} "
                               f"({device}) is {props.major}.{props.minor}")
        facts = _DEVICE_FACTS[device.index] = ("sm90" if props.major >= 9 else "sm89", props.multi_processor_count)
    return facts


def _arch_key(device):
    return "interpreter" if _interpreting() else _device_facts(device)[0]


def _sm_count(device):
    return 4 if _interpreting() else _device_facts(device)[1]


def epilogue_dtype(x):
    # The type of the epilogue, the partials, lse, P and G: float64 for float64 models, float32 otherwise.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


# The widest clamp (clamp_max - clamp_min) for which the TMA forward takes clamp_max as every tile's max and a bf16
# model's training forward saves E: exp(clamp(y) - clamp_max) >= exp(-64) ~ 1.6e-28, a normal number in fp32 and
# bf16, and exp(clamp_max - lse) <= exp(64) is finite.
E_SPAN = 64.0


def fixed_max(clamp_min, clamp_max):
    # Whether the clamp bounds are finite, at most E_SPAN apart and at most 2^27 in magnitude: then clamp_max serves
    # as every tile's max in the TMA forward's partials (no max reduction: 0.4-0.8 % of the bf16 forward, perf-notes
    # sessions 26-27) and a bf16 model may save E. The kernels take the bounds rounded to fp32, which moves each by at
    # most 2^-24 of itself: by 8 at most within 2^27, so their span stays within 80 (exp(-80) and exp(80) are normal
    # fp32 numbers, and exp(-80) a normal bf16 one), where 2^30 + 1 and 2^30 + 65, 64 apart as Python floats, are 128
    # apart in fp32. Plain arithmetic: it also runs while torch.compile traces (on fake tensors). NaN bounds fail
    # every comparison.
    return abs(clamp_min) <= 2.0**27 and abs(clamp_max) <= 2.0**27 and clamp_max - clamp_min <= E_SPAN


def p_dtype(x, clamp_min, clamp_max):
    # What a training forward saves for the backward (M x N): for bf16 models whose clamp bounds are finite and at
    # most E_SPAN apart, E in bf16 (_clamped_exp_pair: half P's bytes, written by the forward and read by the
    # backward; G's error against float64 rises by one bf16 rounding, perf-notes session 26); P, the pre-clamp values
    # in the epilogue's type, otherwise.
    if x.dtype == torch.bfloat16 and fixed_max(clamp_min, clamp_max):
        return torch.bfloat16
    return epilogue_dtype(x)


def _saves_e(p):
    # Whether p (the saved M x N tensor, or None) holds E rather than P: P is always fp32 or fp64.
    return p is not None and p.dtype == torch.bfloat16


def mode_of(x, precision):
    return 3 if x.dtype in _NATIVE_DTYPES else _MODE_OF[precision]


def _traced(t):
    # A fake or functional tensor, seen while torch.compile / export trace, rather than a real one.
    return type(t) not in (torch.Tensor, nn.Parameter)


def _tma_ok(t):
    # A tensor descriptor needs a unit inner stride and 16-byte aligned base and row stride.
    rows, cols = t.stride()
    if cols != 1 or (rows * t.element_size()) % 16 or min(t.shape) == 0:
        return False
    return t.data_ptr() % 16 == 0


def _descriptor_scratch(size, alignment, stream):
    # Global memory in which device-side tensor descriptors are built (triton.set_allocator).
    return torch.empty(size, device="cuda", dtype=torch.int8)


def _prepare_b(src, mode, write_hi=True, flags=None):
    """(hi, lo): the B operand src (rows, K), any strides, as contiguous buffers in the form MODE's dot reads.
    flags (rows,), int32 zeros, if given: set to 1 for rows holding +-inf."""
    rows, cols = src.shape
    hi = torch.empty((rows, cols), device=src.device, dtype=_B_DTYPE.get(mode, src.dtype)) if write_hi else None
    lo = torch.empty((rows, cols), device=src.device, dtype=torch.float32) if mode == 1 else None
    grid = (_cdiv(rows, 32), _cdiv(cols, 128))
    out = lo if hi is None else hi
    _launch(_prepare_b_kernel, src, grid, dict(
        src_ptr=src, hi_ptr=out, lo_ptr=hi if lo is None else lo, flag_ptr=out if flags is None else flags, M=rows,
        K=cols, stride_sm=src.stride(0), stride_sk=src.stride(1)),
        dict(MODE=mode, WRITE_HI=write_hi, FLAG_INF=flags is not None, BLOCK_M=32, BLOCK_K=128))
    return hi, lo


# Triton >= 3.7 rounds through a host descriptor's tensor map when asked (TensorDescriptor(round_f32_to_tf32=True));
# Triton 3.6 fills every tensor map with the element type its compiled kernel records, and TFLOAT32 is the tensor-map
# type 11 (CU_TENSOR_MAP_DATA_TYPE_TFLOAT32; FLOAT32 is 7). There, our compiled kernel's record of its two input
# descriptors is set to 11 once, when it is resolved; no other kernel's record changes.
_TMA_ROUND_FLAG = "round_f32_to_tf32" in TensorDescriptor.__dataclass_fields__
_TMA_FLOAT32, _TMA_TFLOAT32 = 7, 11


def _rounding_descriptor(t, block_shape):
    # A host-side TMA descriptor of the fp32 matrix t whose copies round to tf32 (see _TMA_ROUND_FLAG).
    if _TMA_ROUND_FLAG:
        return TensorDescriptor(t, list(t.shape), list(t.stride()), block_shape, round_f32_to_tf32=True)
    return _plain_descriptor(t, block_shape)  # Triton 3.6: its compiled kernel's record rounds (_resolve)


def _plain_descriptor(t, block_shape):
    # A host-side TMA descriptor of the matrix t whose copies keep its values (16-bit operands).
    return TensorDescriptor(t, list(t.shape), list(t.stride()), block_shape)


# ---------------------------------------------------------------------------------------------------------------------
# Launching. Every kernel launches through a plan (_Plan), found in one cache (_PLANS) by a key made once per call:
# _launch's (the kernel, the device, its constexprs and what Triton specializes on, for every launch but the
# forward's) or _forward_key (the TMA and FMA forwards, whose plans also hold their grid and per-call buffers, so that
# the hot path computes nothing twice). Under the interpreter a launch is kernel[grid](...). On a GPU a plan holds
# the compiled kernel, resolved once, and runs it through Triton's own launcher (_run), or, for the TMA forward on
# Triton 3.6, through the fast launch fenced below.

class _Plan:
    """How one kind of launch runs, made once per key. `launch`: (compiled kernel, its runner, module function, packed
    metadata, trailing constexpr values) once resolved on a GPU, else None. The forwards' plans also hold the kernel,
    its constexprs (meta), the TMA forward's tile config (cfg, for its descriptors), grid, the per-call buffers'
    sizes (counters, buffer_size: the partials) and the shape; `direct`: the TMA forward's fast launch (None:
    Triton's launcher)."""
    __slots__ = ("kernel", "cfg", "meta", "grid", "counters", "buffer_size", "launch", "direct", "M", "N", "K")

    def __init__(self, kernel=None, meta=None, grid=None):
        self.kernel, self.meta, self.grid = kernel, meta, grid
        self.cfg = self.counters = self.buffer_size = self.launch = self.direct = None
        self.M = self.N = self.K = None

    def tma_args(self, x_desc, w_desc, p_desc, bias, buf, count, out, lse, consts):
        # The TMA kernels' runtime arguments in order. Each descriptor comes as the tuple the launch spreads: (a
        # TensorDescriptor,), its tensor map, shape and strides for a fast launch, or (None,) for no P.
        M, N, K = self.M, self.N, self.K
        if self.kernel is _tf32_lse_mish_few_rows_kernel:
            return (*x_desc, *w_desc, bias, buf, count, out, M, N, K, out.stride(0), *consts)
        return (*x_desc, *w_desc, *p_desc, bias, buf, count, out, out if lse is None else lse, M, N, K,
                out.stride(0), *consts)


_PLANS = {}
_MAX_PLANS = 1024


def _keep_plan(key, plan):
    # _PLANS[key] = plan, at most _MAX_PLANS of them (a full cache is emptied first).
    if len(_PLANS) >= _MAX_PLANS:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def _specialization(arg):
    # What Triton's launcher specializes a kernel on, per argument (a superset: ints by ==1 and divisibility by 16,
    # pointers by dtype and 16-byte alignment, descriptors by dtype, block and the same facts of shape and strides).
    kind = type(arg)
    if kind is int:
        return (arg == 1, arg % 16 == 0, -2**31 <= arg < 2**31)
    if kind is bool or arg is None:
        return arg
    if kind is float:
        return float
    if kind is TensorDescriptor:
        return (arg.base.dtype, arg.base.data_ptr() % 16 == 0, tuple(arg.block_shape),
                tuple((v == 1, v % 16 == 0) for v in arg.shape), tuple((v == 1, v % 16 == 0) for v in arg.strides))
    return (arg.dtype, arg.data_ptr() % 16 == 0)


_ORDERS = {}  # (kernel, count) -> the names of its first `count` parameters (_in_order)


def _in_order(kernel, args):
    """The kernel's runtime arguments as a tuple in its parameters' order, from a dict naming each of them: a missing
    or misspelt name is a KeyError naming the parameter left without a value. The names are read once per kernel
    (slicing the kernel's list on every launch was part of the hot paths' extra host time: issue 22)."""
    names = _ORDERS.get((kernel, len(args)))
    if names is None:
        names = _ORDERS[kernel, len(args)] = tuple(kernel.arg_names[:len(args)])
    return tuple(map(args.__getitem__, names))


def _launch(kernel, like, grid, args, meta, rounded_descriptors=()):
    """kernel[grid](**args, **meta): args (a dict) names the kernel's runtime parameters, meta its constexprs and
    launch options; `like`: a tensor on the launch's device."""
    args = _in_order(kernel, args)
    if _interpreting():
        kernel[grid](*args, **meta)
        return
    key = (kernel, like.device.index, tuple(meta.values()), tuple(map(_specialization, args)))
    plan = _PLANS.get(key)
    if plan is None:  # resolved before it is kept: a compile that fails leaves no half-made plan behind
        plan = _Plan(kernel, meta)
        plan.launch = _resolve(kernel, grid, args, meta, rounded_descriptors)
        _keep_plan(key, plan)
    _run(plan, grid, torch._C._cuda_getCurrentRawStream(like.device.index), args)


def _resolve(kernel, grid, args, meta, rounded_descriptors=()):
    # Compile (or load from Triton's cache) without launching; for Triton 3.6, make the descriptors listed in
    # rounded_descriptors round (see _TMA_ROUND_FLAG); return what a launch needs (_Plan.launch).
    names = kernel.arg_names
    if set(names[len(args):]) != {name for name in meta if name in names}:
        raise RuntimeError(f"{kernel.__name__}: the launch must give the leading parameters positionally and every "
                           "trailing constexpr by name")
    compiled = kernel.warmup(*args, grid=grid, **meta)
    if not _TMA_ROUND_FLAG:
        tensor_maps = compiled.metadata.tensordesc_meta
        for i in rounded_descriptors:
            if tensor_maps[i]["elem_type"] == _TMA_FLOAT32:
                tensor_maps[i]["elem_type"] = _TMA_TFLOAT32
    run = compiled.run  # loads the module (compiled.function) on first access
    return compiled, run, compiled.function, compiled.packed_metadata, tuple(meta[name] for name in names[len(args):])


def _run(plan, grid, stream, args):
    """Runs a resolved plan through Triton's own launcher (its runner, which builds the launch hooks' data, when a
    profiler has set hooks)."""
    compiled, run, function, packed, constexprs = plan.launch
    grid3 = tuple(grid) + (1,) * (3 - len(grid))
    if _launch_hooks_set():
        compiled[grid3](*args, *constexprs)
        return
    run(*grid3, stream, function, packed, None, None, None, *args, *constexprs)


def _launch_hooks_set():
    # Triton 3.6 keeps its launch hooks in chains that are never None: a hook is set when a chain has calls.
    runtime = triton.knobs.runtime
    enter, leave = runtime.launch_enter_hook, runtime.launch_exit_hook
    return bool(getattr(enter, "calls", enter)) or bool(getattr(leave, "calls", leave))


# ---- The fast launch (Triton 3.6 only; switch: _FAST_LAUNCH) --------------------------------------------------------
# Triton 3.6 wraps its C launcher in a Python function that encodes every host descriptor's tensor map on every
# launch (~10 us of host time per map). With _FAST_LAUNCH, a TMA forward plan takes the C launcher out of that wrapper
# and encodes each tensor map once per address. Where the wrapper is not the one this was written for (another
# Triton), where launch hooks are set (profilers), or with _FAST_LAUNCH False, the plan runs through Triton's own
# launcher (_run): the same kernel and arguments, more host time per call. A plan keeps what it was made with: set the
# switch before the first call (or empty _PLANS).
_FAST_LAUNCH = True


def _direct_launch(launch, *block_shapes):
    """(C launch, function, leading launch arguments, trailing constexprs, tensor-map memos) for Triton 3.6's
    launcher, or None where the launcher is not the one this was written for (then Triton's launcher runs it). The
    maps of a plan differ only in their address."""
    compiled, run, function, packed, constexprs = launch
    wrapper = getattr(run, "launch", None)
    code = getattr(wrapper, "__code__", None)
    if not _FAST_LAUNCH or code is None or run.global_scratch_size or run.profile_scratch_size:
        return None
    cells = dict(zip(code.co_freevars, (cell.cell_contents for cell in wrapper.__closure__ or ())))
    c_launch, tensor_maps = cells.get("launcher"), cells.get("tensordesc_meta")
    if not callable(c_launch) or not tensor_maps or code.co_name != "inner":
        return None
    from triton.backends.nvidia.driver import make_tensordesc_arg
    memos = [(block, meta, {}, make_tensordesc_arg) for block, meta in zip(block_shapes, tensor_maps)]
    head = (run.launch_cooperative_grid, run.launch_pdl, None, None, packed, None, None, None)
    return c_launch, function, head, constexprs, memos


def _tensor_map(memos, i, t, ptr):
    # The encoded tensor map of descriptor i for the matrix t at address ptr (its shape and strides are the plan's,
    # and so are the block and the element type), as Triton's launcher passes it: [map, *shape, *strides].
    block, meta, memo, encode = memos[i]
    args = memo.get(ptr)
    if args is None:
        if len(memo) >= 64:
            memo.clear()
        args = memo[ptr] = tuple(encode(_plain_descriptor(t, block), meta))
    return args
# ---- end of the fast launch -----------------------------------------------------------------------------------------


def _register_meta(arch, mode, dtype, tma_ok, config=None):
    """(the constexprs both register-operand kernels share, the tile config and launch options): MODE's config for
    arch (or the one given); TMA where the config has it and the operands allow (tma_ok)."""
    cfg = dict(config or _register_config_of(arch, mode, dtype))
    use_tma = cfg.pop("tma") and tma_ok
    acc_dtype = tl.float64 if dtype == torch.float64 else tl.float32
    meta = dict(MODE=mode, EMULATE=arch == "interpreter", ACC_DTYPE=acc_dtype, USE_TMA=use_tma, SYNC_RS=arch == "sm90")
    if use_tma:
        triton.set_allocator(_descriptor_scratch)
    return meta, cfg


def _register_lse_partials(arch, mode, weight, b, lo, part, p=None, bias=None, consts=(1.0, 0.0, 0.0), flags=None,
                           config=None):
    """part[0 | 1][tile, m] = per-tile (max, sum of exp) of row m of clamp(2 * scale * (x W^T + bias)), with B = x
    prepared as MODE's dot reads it (b; lo: its 3xtf32 low part); p (M, N), if given, gets the pre-clamp values.
    flags: redo only the rows of x flagged there; config: instead of MODE's."""
    N, K = weight.shape
    M = b.shape[0]
    meta, cfg = _register_meta(arch, mode, weight.dtype, all(_tma_ok(t) for t in (weight, b, lo, p) if t is not None),
                               config)
    meta.update(HAS_BIAS=bias is not None, STORE_P=p is not None, STORE_E=_saves_e(p),
                ONLY_FLAGGED=flags is not None, **cfg)
    grid = (_cdiv(N, cfg["BLOCK_N"]) * _cdiv(M, cfg["BLOCK_M"]),)
    # pointers the kernel does not read where its constexprs say so (no low part, bias, P or flags): stand-ins of
    # the same type as ever (a different type would compile another kernel)
    scale, clamp_min, clamp_max = consts
    _launch(_register_lse_partials_kernel, weight, grid, dict(
        w_ptr=weight, b_ptr=b, lo_ptr=b if lo is None else lo, bias_ptr=weight if bias is None else bias,
        part_max_ptr=part[0], part_sum_ptr=part[1], p_ptr=part[0] if p is None else p,
        flag_ptr=part[0] if flags is None else flags, N=N, M=M, K=K, stride_wn=weight.stride(0),
        stride_wk=weight.stride(1), stride_bm=b.stride(0), stride_bk=b.stride(1), scale=scale, clamp_min=clamp_min,
        clamp_max=clamp_max), meta)


def _register_grad_product(arch, mode, a, b, lo, out, out_strides):
    """out[n * out_strides[0] + m * out_strides[1]] = sum_k A[n, k] * B[m, k], A = a.T for a (K, N) (the register
    operand, read transposed), B = b (M, K) prepared as MODE's dot reads it (lo: its 3xtf32 low part)."""
    K, N = a.shape
    M = b.shape[0]
    meta, cfg = _register_meta(arch, mode, a.dtype, all(_tma_ok(t) for t in (a, b, lo) if t is not None))
    meta.update(cfg)
    grid = (_cdiv(N, cfg["BLOCK_N"]) * _cdiv(M, cfg["BLOCK_M"]),)
    _launch(_register_grad_product_kernel, a, grid, dict(
        a_ptr=a, b_ptr=b, lo_ptr=b if lo is None else lo, out_ptr=out, N=N, M=M, K=K, stride_an=a.stride(1),
        stride_ak=a.stride(0), stride_bm=b.stride(0), stride_bk=b.stride(1), stride_on=out_strides[0],
        stride_om=out_strides[1]), meta)


def forward_into(x, weight, bias, consts, mode, out, lse=None, p=None):
    """out (M, 1) = lse * mish(lse); with lse (M,) and p (M, N) given, also the values the backward needs; with lse
    alone, lse too (lsemish.distributed's inference)."""
    scope = _device_scope(x)
    M = x.shape[0]
    if M == 0:
        return
    arch = _arch_key(x.device)
    with scope:
        path, plan = _forward_plan(arch, mode, x, weight, bias, out, lse, p, fixed_max(consts[1], consts[2]))
        if path == "tma":
            _tma_forward(plan, arch, x, weight, bias, consts, out, lse, p)
        elif path == "fma":
            _fma_forward(plan, arch, x, weight, bias, consts, out)
        else:
            part = _register_operand_partials(arch, x, weight, bias, consts, mode, p)
            _launch(_lse_mish_combine_kernel, x, (_cdiv(M, 256),), dict(
                part_max_ptr=part[0], part_sum_ptr=part[1], out_ptr=out, lse_ptr=out if lse is None else lse, M=M,
                num_tiles=part[0].shape[0], stride_out=out.stride(0)), dict(SAVE_LSE=lse is not None, BLOCK=256))


def forward_path(x, weight, bias=None, precision="tf32", training=False, clamp_min=-float("inf"),
                 clamp_max=float("inf")):
    """Which forward kernel runs for these tensors: "tma" (_tf32_lse_mish_kernel or its few-rows variant), "fma"
    (_fma_lse_mish_few_rows_kernel) or "register" (_register_lse_partials_kernel and the combine); training: with
    lse and P (or E: p_dtype, by the clamp bounds) stored for the backward. Makes the plan, launches nothing."""
    M, N = x.shape[0], weight.shape[0]
    out = torch.empty((M, 1), device=x.device, dtype=x.dtype)
    lse = torch.empty((M,), device=x.device, dtype=epilogue_dtype(x)) if training else None
    p = torch.empty((M, N), device=x.device, dtype=p_dtype(x, clamp_min, clamp_max)) if training else None
    with _device_scope(x):
        return _forward_plan(_arch_key(x.device), mode_of(x, precision), x, weight, bias, out, lse, p,
                             fixed_max(clamp_min, clamp_max))[0]


def _forward_key(path, arch, x, weight, bias, out, lse, p, fixed):
    # Everything a forward plan depends on: what TMA needs of x and W (strides, 16-byte alignment), what Triton
    # specializes on (alignment of the other pointers, the integers), the shape, dtype and role, and whether the
    # clamp bounds fix the partials' max (fixed_max).
    return (path, x.device.index, x.shape[0], weight.shape[0], x.shape[1], x.dtype, x.stride(), weight.stride(),
            x.data_ptr() % 16, weight.data_ptr() % 16, None if bias is None else bias.data_ptr() % 16 == 0,
            out.data_ptr() % 16 == 0, out.stride(0), None if p is None else (p.stride(), p.data_ptr() % 16, p.dtype),
            None if lse is None else lse.data_ptr() % 16 == 0, arch, fixed)


def _forward_plan(arch, mode, x, weight, bias, out, lse, p, fixed):
    """(which forward runs: "fma", "tma" or "register"; its plan, None for the register path, whose launches _launch
    plans). The FMA kernel: inference on a few rows of fp32 x; the TMA kernels: on Hopper (or the interpreter) where
    TMA can describe x, W (and P); the register-operand kernel otherwise."""
    if lse is None and _fma_serves(arch, mode, x.dtype, x.shape[0]):  # inference only: training needs lse and P
        key = _forward_key("fma", arch, x, weight, bias, out, lse, p, False)
        plan = _PLANS.get(key)
        if plan is None:
            plan = _keep_plan(key, _fma_plan(arch, x, weight, bias))
        return "fma", plan
    if _tma_forward_applies(arch, mode, x, lse, p):
        key = _forward_key("tma", arch, x, weight, bias, out, lse, p, fixed)
        plan = _PLANS.get(key)
        if plan is None:
            plan = _keep_plan(key, _tma_plan(arch, x, weight, bias, out, lse, p, fixed))
        if plan.kernel is not None:  # None: TMA cannot describe x or W (or P)
            return "tma", plan
    return "register", None


def _fma_serves(arch, mode, dtype, rows):
    # Whether _fma_lse_mish_few_rows_kernel runs the inference forward of `rows` rows of x in this mode.
    return dtype == torch.float32 and rows <= _FMA_CONFIGS[arch]["MAX_M"].get(mode, 0)


def _fma_config(arch):
    # The FMA kernel's tile and launch options for arch (its _FMA_CONFIGS record without MAX_M).
    return {name: value for name, value in _FMA_CONFIGS[arch].items() if name != "MAX_M"}


def _fma_plan(arch, x, weight, bias):
    M = x.shape[0]
    cfg = _fma_config(arch)
    plan = _Plan(_fma_lse_mish_few_rows_kernel, dict(HAS_BIAS=bias is not None,
                                                     BLOCK_M=triton.next_power_of_2(M), **cfg))
    plan.grid = (_cdiv(weight.shape[0], cfg["BLOCK_N"]),)
    plan.counters, plan.buffer_size = 1, 2 * plan.grid[0] * M  # the partials (2, tiles, M)
    return plan


def _fma_forward(plan, arch, x, weight, bias, consts, out):
    """out (M, 1) for a few rows of fp32 x, in exact fp32 (_fma_lse_mish_few_rows_kernel), by its plan; the
    compiled kernel is resolved on the first call of a plan and launched through Triton's launcher (_run)."""
    M, K = x.shape
    N = weight.shape[0]
    device = x.device
    stream = 0 if arch == "interpreter" else torch._C._cuda_getCurrentRawStream(device.index)
    count, part = _kept_buffers(device, stream, plan.counters, plan.buffer_size, arch)
    # x_ptr, w_ptr, bias_ptr (W where there is none: not read), part_ptr, count_ptr, out_ptr, M, N, K, x's, W's and
    # out's strides, scale, clamp_min, clamp_max: the kernel's parameters in order (a hot path: no dict)
    args = (x, weight, weight if bias is None else bias, part, count, out, M, N, K, x.stride(0), x.stride(1),
            weight.stride(0), weight.stride(1), out.stride(0), *consts)
    if arch == "interpreter":
        plan.kernel[plan.grid](*args, **plan.meta)
        return
    if plan.launch is None:  # resolve (compile or load) once for this plan
        plan.launch = _resolve(plan.kernel, plan.grid, args, plan.meta)
    _run(plan, plan.grid, stream, args)


def _tma_forward_applies(arch, mode, x, lse, p):
    # The TMA kernels, on Hopper (or the interpreter, which emulates it): the default mode's fp32 operands (rounded
    # to tf32 by the tensor maps) and bf16 and fp16 models (mode 3, copied as they are), for inference (neither lse
    # nor P), training (both; P in fp32) and lsemish.distributed's inference (lse alone). Whether TMA can describe
    # x, W (and P) is the plan's to say.
    if arch not in _TF32_TMA_CONFIGS or (p is not None and lse is None):
        return False
    return (mode == 0 and x.dtype == torch.float32) or (mode == 3 and x.dtype in _TMA_16BIT)


_TMA_16BIT = (torch.bfloat16, torch.float16)


def _tma_config_for(cfg, element_size):
    # A TMA config for operands of element_size bytes: the fp32 tables' BLOCK_K scaled so that a stage holds the
    # same bytes (BLOCK_K 32 fp32 -> 64 bf16).
    return cfg if element_size == 4 else dict(cfg, BLOCK_K=cfg["BLOCK_K"] * 4 // element_size)


def _tma_config(arch, M, N, sms):
    configs = _TF32_TMA_CONFIGS[arch]
    if M <= configs["SMALL_M"]:
        return configs["small"]
    large = configs["large"]
    if _cdiv(M, large["BLOCK_M"]) * _cdiv(N, large["BLOCK_N"]) >= sms:
        return large
    return configs["medium"]


def _tma_forward(plan, arch, x, weight, bias, consts, out, lse=None, p=None):
    """out (M, 1) from the one-launch TMA kernels (W's tile first for a few rows of x, in inference); in training
    also lse (M,) and P (M, N); by its plan (the fast launch where it has one)."""
    device = x.device
    stream = 0 if arch == "interpreter" else torch._C._cuda_getCurrentRawStream(device.index)
    count, buf = _kept_buffers(device, stream, plan.counters, plan.buffer_size, arch)
    bias_arg = weight if bias is None else bias  # not read without a bias (HAS_BIAS)
    if plan.direct is None or _launch_hooks_set():
        descs = [(d,) for d in _tma_descriptors(plan.cfg, x, weight, p)]
        args = plan.tma_args(*descs, bias_arg, buf, count, out, lse, consts)
        if arch == "interpreter":
            plan.kernel[plan.grid](*args, **plan.meta)
        else:
            _run(plan, plan.grid, stream, args)
        return
    c_launch, function, head, tail, maps = plan.direct
    maps = (_tensor_map(maps, 0, x, x.data_ptr()), _tensor_map(maps, 1, weight, weight.data_ptr()),
            _tensor_map(maps, 2, p, p.data_ptr()) if p is not None else (None,))
    c_launch(plan.grid[0], 1, 1, stream, function, *head, *plan.tma_args(*maps, bias_arg, buf, count, out, lse, consts),
             *tail)


def _rounded(x):
    # Which of the TMA kernels' descriptors round to tf32: x's and W's for fp32 operands, none for 16-bit ones.
    return (0, 1) if x.dtype == torch.float32 else ()


def _tma_descriptors(cfg, x, weight, p):
    # Host descriptors of x and W (whose copies round to tf32 if they are fp32), and of P (training) if given.
    M, N = x.shape[0], weight.shape[0]
    describe = _rounding_descriptor if x.dtype == torch.float32 else _plain_descriptor
    x_desc = describe(x, [cfg["BLOCK_M"], cfg["BLOCK_K"]])
    w_desc = describe(weight, [cfg["BLOCK_N"], cfg["BLOCK_K"]])
    p_desc = None if p is None else TensorDescriptor(p, [M, N], [N, 1], [cfg["BLOCK_M"], cfg["BLOCK_N"]])
    return x_desc, w_desc, p_desc


def _few_rows(configs, M, saves_lse, element_size=4):
    """The few-rows kernel's config for M rows of x of element_size bytes, or None where the one-tile-per-program
    kernel runs (lse to store, in training or for lsemish.distributed, or more rows than FEW_M)."""
    if saves_lse or M > configs["FEW_M"]:
        return None
    cfg = _tma_config_for(dict(configs["few16" if element_size == 2 and "few16" in configs else "few"]),
                          element_size)
    cfg["BLOCK_M"] = min(max(16, triton.next_power_of_2(M)), cfg["BLOCK_M"])
    # as many stages as fit FEW_SMEM bytes of shared memory (the x tile grows with BLOCK_M), the config's at most
    stage = (cfg["BLOCK_N"] + cfg["BLOCK_M"]) * cfg["BLOCK_K"] * element_size
    cfg["num_stages"] = max(1, min(cfg["num_stages"], configs["FEW_SMEM"] // stage))
    return cfg


def _tma_plan(arch, x, weight, bias, out, lse, p, fixed):
    """The TMA forward's plan for these tensors (kernel None where TMA cannot describe x or W, or P; fixed: fixed_max
    of the clamp bounds): kernel, config, grid, buffers and, on a GPU, the compiled kernel resolved with real
    descriptors and its fast launch."""
    M, K = x.shape
    N = weight.shape[0]
    plan = _Plan()
    plan.M, plan.N, plan.K = M, N, K
    if not (_tma_ok(x) and _tma_ok(weight) and (p is None or _tma_ok(p))):
        return plan
    configs = _TF32_TMA_CONFIGS[arch]
    few = _few_rows(configs, M, lse is not None, x.element_size())
    if few:
        plan.kernel, plan.cfg = _tf32_lse_mish_few_rows_kernel, few
        plan.meta = dict(HAS_BIAS=bias is not None, EMULATE=arch == "interpreter", FIXED_MAX=fixed, **few)
    else:
        plan.kernel, plan.cfg = _tf32_lse_mish_kernel, _tma_config_for(_tma_config(arch, M, N, _sm_count(x.device)),
                                                                 x.element_size())
        if _saves_e(p) and not fixed:
            raise ValueError("E is saved only where the clamp bounds fix the partials' max (fixed_max)")
        plan.meta = dict(HAS_BIAS=bias is not None, EMULATE=arch == "interpreter", FIXED_MAX=fixed,
                         SAVE_P=p is not None, SAVE_E=_saves_e(p), SAVE_LSE=lse is not None, **plan.cfg)
    cfg = plan.cfg
    tiles, plan.counters = _cdiv(N, cfg["BLOCK_N"]), _cdiv(M, cfg["BLOCK_M"])  # one counter per row block
    plan.grid = (plan.counters * tiles,)
    plan.buffer_size = 2 * tiles * M  # the partials (2, tiles, M)
    if arch != "interpreter":
        # Resolve (compile or load) the kernel with real descriptors, then take its fast launch.
        buf = torch.empty((4,), device=x.device, dtype=torch.float32)  # stand-ins of the per-call buffers' types
        count = torch.empty((4,), device=x.device, dtype=torch.int32)
        descs = _tma_descriptors(cfg, x, weight, p)
        args = plan.tma_args(*[(d,) for d in descs], weight if bias is None else bias, buf, count, out, lse, consts=(
            1.0, 0.0, 0.0))
        plan.launch = _resolve(plan.kernel, plan.grid, args, plan.meta, _rounded(x))
        plan.direct = _direct_launch(plan.launch, *(d.block_shape for d in descs if d is not None))
    return plan


# The forwards' buffers, kept per (device, stream) and reused by every launch on that stream (the stream orders
# them): int32 counters (one per row block), zero at launch and left at zero by the kernels, so no call clears them;
# and the partials, which every launch writes before it reads them. A launch being captured into a CUDA graph (whose
# replays may run on another stream), or one needing more than the kept buffers hold (_COUNTER_SLOTS counters,
# _WORKSPACE floats: 4 MiB), gets fresh ones of its own.
_KEPT = {}
_COUNTER_SLOTS = 4096
_WORKSPACE = 2**20


def _kept_buffers(device, stream, counters, workspace, arch):
    """(int32 counters, zero; fp32 workspace) for one launch."""
    if (counters > _COUNTER_SLOTS or workspace > _WORKSPACE
            or (arch != "interpreter" and torch._C._cuda_isCurrentStreamCapturing())):
        return (torch.zeros((counters,), device=device, dtype=torch.int32),
                torch.empty((workspace,), device=device, dtype=torch.float32))
    kept = _KEPT.get((device, stream))
    if kept is None:
        whole = torch.zeros((_COUNTER_SLOTS + _WORKSPACE,), device=device, dtype=torch.int32)
        kept = _KEPT[(device, stream)] = (whole[:_COUNTER_SLOTS], whole[_COUNTER_SLOTS:].view(torch.float32))
    return kept


def _register_operand_partials(arch, x, weight, bias, consts, mode, p):
    """(part_max, part_sum), each (tiles, M), from the register-operand GEMM kernel (every mode; stores p if
    given)."""
    M, K = x.shape
    N = weight.shape[0]
    flags = None
    if mode == 3:
        b, lo = x, None
    elif mode == 1:
        flags = torch.zeros((M,), device=x.device, dtype=torch.int32)
        b, lo = x, _prepare_b(x, mode, write_hi=False, flags=flags)[1]
    else:
        b, lo = _prepare_b(x, mode)
    tiles = _cdiv(N, _register_config_of(arch, mode, x.dtype)["BLOCK_N"])
    part = [torch.empty((tiles, M), device=x.device, dtype=epilogue_dtype(x)) for _ in range(2)]
    _register_lse_partials(arch, mode, weight, b, lo, part, p=p, bias=bias, consts=consts)
    if flags is not None:
        # fp32 mode, rows of x holding +-inf: the 3xtf32 split meets inf with W's low part, whose sign may
        # oppose the high part's (inf - inf) or which may be 0 (0 * inf), and gives NaN where the reference
        # saturates. Those rows' partials are redone with one rounded-W product, whose infinities carry the
        # reference's signs (the finite parts no longer matter: every column is +-inf or NaN there). Tiles
        # without such a row return at once.
        _register_lse_partials(arch, 0, weight, x, None, part, p=p, bias=bias, consts=consts, flags=flags,
                               config=_register_config_of(arch, 1, x.dtype))
    return part


def grad_g_into(grad, x, lse, p, consts, mode, g_hi, g_lo, db=None):
    """G (M, N) = d loss / d (x @ W.T + b) from grad (M, 1) and the forward's lse and p, in the form the grad-x
    product reads it (g_hi, plus g_lo in the fp32 mode: the buffers of g_buffers); db (N,) = column sums of G, if
    given."""
    scope = _device_scope(x)
    M, N = p.shape
    if M == 0:
        if db is not None:
            db.zero_()
        return
    cfg = _GRAD_CONFIGS[x.element_size()]
    with scope:
        _launch(_lse_mish_grad_kernel, p, (_cdiv(N, cfg["BLOCK_N"]),), dict(
            p_ptr=p, lse_ptr=lse, g_ptr=grad, g_hi_ptr=g_hi, g_lo_ptr=g_lo if mode == 1 else g_hi,
            db_ptr=g_hi if db is None else db, M=M, N=N, stride_g=grad.stride(0), scale=float(consts[0]),
            clamp_min=float(consts[1]), clamp_max=float(consts[2])),
            dict(MODE=mode, HAS_BIAS=db is not None, FROM_E=_saves_e(p), **cfg))


def linear_grads_into(g_hi, g_lo, x, weight, mode, dx=None, dw=None):
    """dx (M, K) = G W and dw (N, K) = G^T x, those given, from the buffers of g_buffers."""
    scope = _device_scope(x)
    M = x.shape[0]
    if M == 0:
        if dw is not None:
            dw.zero_()
        return
    arch = _arch_key(x.device)
    with scope:
        if _smem_grads_apply(arch, mode, x, weight, g_hi):
            if dx is not None:
                _smem_grad_product(arch, g_hi, weight, dx, False)
            if dw is not None:
                _smem_grad_product(arch, g_hi, x, dw, True)
            return
        if dx is not None:
            # dX^T = W^T G^T: W is the register operand (read transposed), G the prepared one (g_lo: its low part,
            # read in the fp32 mode only).
            _register_grad_product(arch, mode, weight, g_hi, g_lo if mode == 1 else None, dx,
                                   (dx.stride(1), dx.stride(0)))
        if dw is not None:
            # dW = G^T x: G is the register operand (read transposed), x^T the prepared one.
            xt_hi, xt_lo = _prepare_b(x.t(), mode)
            _register_grad_product(arch, mode, g_hi, xt_hi, xt_lo, dw, (dw.stride(0), dw.stride(1)))


def _smem_grads_apply(arch, mode, x, weight, g):
    # The shared-memory products: bf16 and fp16 models (G in the model's dtype), on Hopper (or the interpreter), where
    # TMA can describe G, W and x.
    return (mode == 3 and x.dtype in _TMA_16BIT and arch in _SMEM_GRAD_CONFIGS
            and all(_tma_ok(t) for t in (g, weight, x)))


def _smem_grad_product(arch, g, b, out, transposed):
    """out = G B (grad x: b = W, out = dX) or, transposed, G^T B (grad W: b = x, out = dW), through TMA."""
    cfg = _SMEM_GRAD_CONFIGS[arch]
    M, N = g.shape
    rows, red = (N, M) if transposed else (M, N)
    cols = b.shape[1]
    a_block = [cfg["BLOCK_K"], cfg["BLOCK_R"]] if transposed else [cfg["BLOCK_R"], cfg["BLOCK_K"]]
    a_desc = _plain_descriptor(g, a_block)
    b_desc = _plain_descriptor(b, [cfg["BLOCK_K"], cfg["BLOCK_C"]])
    tma_store = cfg.get("TMA_STORE", False) and _tma_ok(out)
    out_desc = _plain_descriptor(out, [cfg["BLOCK_R"], cfg["BLOCK_C"] // 2]) if tma_store else None
    programs = _sm_count(g.device)  # persistent: one program per multiprocessor at most
    grid = (min(programs, _cdiv(rows, cfg["BLOCK_R"]) * _cdiv(cols, cfg["BLOCK_C"])),)
    _launch(_smem_grad_product_kernel, g, grid, dict(
        a_desc=a_desc, b_desc=b_desc, out_desc=out_desc, out_ptr=out, ROWS=rows, COLS=cols, RED=red,
        stride_out=out.stride(0)), dict(TRANS_A=transposed, EMULATE=arch == "interpreter", PROGRAMS=programs,
                                        **{**cfg, "TMA_STORE": tma_store}))


def g_buffers(x, mode, M, N):
    # G as the grad-x product's B operand, and its 3xtf32 low part (fp32 mode; empty otherwise).
    g_hi = torch.empty((M, N), device=x.device, dtype=_B_DTYPE.get(mode, x.dtype))
    g_lo = torch.empty((M, N) if mode == 1 else (0,), device=x.device, dtype=torch.float32)
    return g_hi, g_lo


def _backward_into(grad, x, weight, lse, p, consts, mode, dx=None, dw=None, db=None):
    """Both backward steps into the given dx, dw, db (tests and benchmarks; autograd runs them as two ops)."""
    g_hi, g_lo = g_buffers(x, mode, *p.shape)
    grad_g_into(grad, x, lse, p, consts, mode, g_hi, g_lo, db)
    linear_grads_into(g_hi, g_lo, x, weight, mode, dx, dw)


# torch.library custom ops, opaque to torch.compile and export: a compiled graph calls them on real tensors, so it runs
# the same kernels, through the same launch plans, as eager code. The forward returns (out, lse, P); lse and P are
# empty unless save_for_backward is set (without them a backward recomputes them). The backward is two ops, so that P
# can be freed between them: P -> G (and db), then G -> dx, dW. Registered once per process (a second copy of this
# file reuses the first registration).
def _forward_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, scale_factor: float,
                clamp_min: float, clamp_max: float, precision: str,
                save_for_backward: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    out, lse, p = _forward_fake(x, weight, bias, scale_factor, clamp_min, clamp_max, precision, save_for_backward)
    forward_into(x, weight, bias, (scale_factor, clamp_min, clamp_max), mode_of(x, precision), out,
                  lse if save_for_backward else None, p if save_for_backward else None)
    return out, lse, p


def _forward_fake(x, weight, bias, scale_factor, clamp_min, clamp_max, precision, save_for_backward):
    M, N = x.shape[0], weight.shape[0]
    out = torch.empty((M, 1), device=x.device, dtype=x.dtype)
    lse = torch.empty((M,) if save_for_backward else (0,), device=x.device, dtype=epilogue_dtype(x))
    p = torch.empty((M, N) if save_for_backward else (0,), device=x.device, dtype=p_dtype(x, clamp_min, clamp_max))
    return out, lse, p


def _grad_g_op(grad: torch.Tensor, x: torch.Tensor, lse: torch.Tensor, p: torch.Tensor, scale_factor: float,
               clamp_min: float, clamp_max: float, precision: str,
               need_b: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g_hi, g_lo, db = _grad_g_fake(grad, x, lse, p, scale_factor, clamp_min, clamp_max, precision, need_b)
    grad_g_into(grad, x, lse, p, (scale_factor, clamp_min, clamp_max), mode_of(x, precision), g_hi, g_lo,
                 db if need_b else None)
    return g_hi, g_lo, db


def _grad_g_fake(grad, x, lse, p, scale_factor, clamp_min, clamp_max, precision, need_b):
    g_hi, g_lo = g_buffers(x, mode_of(x, precision), *p.shape)
    db = torch.empty((p.shape[1],) if need_b else (0,), device=x.device, dtype=x.dtype)
    return g_hi, g_lo, db


def _linear_grads_op(g_hi: torch.Tensor, g_lo: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, precision: str,
                     need_x: bool, need_w: bool) -> tuple[torch.Tensor, torch.Tensor]:
    dx, dw = _linear_grads_fake(g_hi, g_lo, x, weight, precision, need_x, need_w)
    linear_grads_into(g_hi, g_lo, x, weight, mode_of(x, precision), dx if need_x else None, dw if need_w else None)
    return dx, dw


def _linear_grads_fake(g_hi, g_lo, x, weight, precision, need_x, need_w):
    dx = torch.empty(x.shape if need_x else (0,), device=x.device, dtype=x.dtype)
    dw = torch.empty(weight.shape if need_w else (0,), device=x.device, dtype=x.dtype)
    return dx, dw


def _setup_context(ctx, inputs, output):
    x, weight, bias, scale_factor, clamp_min, clamp_max, precision, save_for_backward = inputs
    _, lse, p = output
    ctx.mark_non_differentiable(lse, p)
    # lse and p get no gradient: without this, autograd would allocate zero gradients for them (32 MiB for p)
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(x, weight, bias, lse)
    # p is not differentiable (no grad_fn), so holding it here makes no reference cycle. It is kept out of
    # save_for_backward so that the backward can drop it as soon as G is made; a second backward through a retained
    # graph then recomputes it.
    ctx.p = p if save_for_backward else None
    ctx.args = (scale_factor, clamp_min, clamp_max, precision)


def _autograd_backward(ctx, grad_out, grad_lse, grad_p):
    if grad_out is None:  # no gradient reached out (grads are not materialized as zeros)
        return None, None, None, None, None, None, None, None
    x, weight, bias, lse = ctx.saved_tensors
    scale_factor, clamp_min, clamp_max, precision = ctx.args
    # Traced (torch.compile's backward graph): through the registered ops; eager: their implementations directly.
    traced = _traced(x)
    p, ctx.p = ctx.p, None
    if p is None:
        # Not kept (save_for_backward=False), or released by an earlier backward: recompute lse and p.
        forward = torch.ops.lsemish.linear_lse_mish if traced else _forward_op
        _, lse, p = forward(x.detach(), weight.detach(), None if bias is None else bias.detach(), scale_factor,
                            clamp_min, clamp_max, precision, True)
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    need_b = ctx.needs_input_grad[2] and bias is not None
    grad_g = torch.ops.lsemish.lse_mish_grad if traced else _grad_g_op
    g_hi, g_lo, db = grad_g(grad_out, x, lse, p, scale_factor, clamp_min, clamp_max, precision, need_b)
    del p
    linear_grads = torch.ops.lsemish.linear_grads if traced else _linear_grads_op
    dx, dw = linear_grads(g_hi, g_lo, x, weight, precision, need_x, need_w)
    return (dx if need_x else None, dw if need_w else None, db if need_b else None, None, None, None, None, None)


class _LinearLseMishFunction(torch.autograd.Function):
    # Eager autograd: the same forward, context and backward as the registered op, without its dispatch cost
    # (measured on the H100 host: the fused forward + backward was host-bound through torch.ops).
    @staticmethod
    def forward(x, weight, bias, scale_factor, clamp_min, clamp_max, precision, save_for_backward):
        return _forward_op(x, weight, bias, scale_factor, clamp_min, clamp_max, precision, save_for_backward)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _setup_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, grad_out, grad_lse, grad_p):
        return _autograd_backward(ctx, grad_out, grad_lse, grad_p)


def _define_ops():
    if hasattr(torch.ops.lsemish, "linear_lse_mish"):
        return
    fwd = torch.library.custom_op("lsemish::linear_lse_mish", _forward_op, mutates_args=())
    fwd.register_fake(_forward_fake)
    grad_g = torch.library.custom_op("lsemish::lse_mish_grad", _grad_g_op, mutates_args=())
    grad_g.register_fake(_grad_g_fake)
    grads = torch.library.custom_op("lsemish::linear_grads", _linear_grads_op, mutates_args=())
    grads.register_fake(_linear_grads_fake)
    fwd.register_autograd(_autograd_backward, setup_context=_setup_context)


_define_ops()


def linear_lse_mish(x, weight, bias, scale_factor, clamp_min, clamp_max, precision="tf32", out=None):
    """out[m, 0] = lse * mish(lse), lse = logsumexp_n clamp(2 * ((x @ weight.T + bias) * scale), cmin, cmax).

    precision applies to float32 inputs ("tf32", "fp32" or "bf16"), forward and backward; bfloat16/float16/float64
    inputs compute in their own type. Differentiable in x, weight and bias. Under torch.compile / export this is
    the custom op torch.ops.lsemish.linear_lse_mish (with its backward ops), which runs the same kernels; eagerly
    the same code runs without the op dispatch.
    out, if given, is an (M, 1) tensor of x's dtype and device that receives the result (not differentiable).
    """
    check_precision(precision)
    check_inputs(x, weight, bias)
    consts = (float(scale_factor), float(clamp_min), float(clamp_max))
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad
                                              or (bias is not None and bias.requires_grad))
    if out is None:
        args = (x, weight, bias, *consts, precision, needs_grad)
        if torch.compiler.is_compiling():
            return torch.ops.lsemish.linear_lse_mish(*args)[0]  # what torch.compile and export see
        if needs_grad:
            return _LinearLseMishFunction.apply(*args)[0]
        out = torch.empty((x.shape[0], 1), device=x.device, dtype=x.dtype)
        forward_into(x, weight, bias, consts, mode_of(x, precision), out)  # inference: no lse or P to return
        return out
    if needs_grad:
        raise RuntimeError("linear_lse_mish(..., out=...) does not support automatic differentiation; "
                           "call it without out= or under torch.no_grad()")
    M = x.shape[0]
    if out.shape != (M, 1) or out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"out must be a ({M}, 1) {x.dtype} tensor on {x.device}; got {tuple(out.shape)} "
                         f"{out.dtype} on {out.device}")
    forward_into(x, weight, bias, consts, mode_of(x, precision), out)
    return out


class ModelNew(nn.Module):
    def __init__(self, input_size, hidden_size, scale_factor, clamp_min, clamp_max, precision="tf32"):
        super().__init__()
        self.matmul = nn.Linear(input_size, hidden_size)
        self.scale_factor = scale_factor
        self.clamp_min = clamp_min
        self.clamp_max = clamp_max
        self.precision = check_precision(precision)

    def forward(self, x):
        linear = self.matmul
        return linear_lse_mish(x, linear.weight, linear.bias, self.scale_factor, self.clamp_min, self.clamp_max,
                               self.precision)
