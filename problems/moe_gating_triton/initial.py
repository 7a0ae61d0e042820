"""MoE router gating as one Triton kernel: softmax over experts, top-k, renormalized weights.

moe_gating(logits, k) gets float32 logits [tokens, experts] (a CUDA tensor, or a CPU
tensor when the evaluator runs Triton's interpreter) and returns (weights, indices):
weights float32 [tokens, k], the softmax probabilities of the k chosen experts divided
by their sum, and indices int32 or int64 [tokens, k], the chosen experts in descending
order of probability; equal logits go to the lower expert index first.
"""
import torch
import triton
import triton.language as tl


# EVOLVE-BLOCK-START
@triton.jit
def gating_kernel(logits_ptr, weights_ptr, indices_ptr, n_experts, stride_row,
                  K: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_K: tl.constexpr):
    # one program per token: load the row, softmax, then pick the k largest one at a time
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_E)
    mask = cols < n_experts
    x = tl.load(logits_ptr + row * stride_row + cols, mask=mask, other=-float("inf"))
    e = tl.exp(x - tl.max(x, axis=0))
    e = tl.where(mask, e, 0.0)
    p = e / tl.sum(e, axis=0)
    p = tl.where(mask, p, -1.0)
    slots = tl.arange(0, BLOCK_K)
    w = tl.zeros([BLOCK_K], dtype=tl.float32)
    idx = tl.zeros([BLOCK_K], dtype=tl.int32)
    for i in tl.static_range(K):
        best = tl.max(p, axis=0)
        pick = tl.min(tl.where(p == best, cols, BLOCK_E), axis=0)  # ties: lowest index
        w = tl.where(slots == i, best, w)
        idx = tl.where(slots == i, pick, idx)
        p = tl.where(cols == pick, -1.0, p)
    w = w / tl.sum(w, axis=0)
    out = row * K + slots
    tl.store(weights_ptr + out, w, mask=slots < K)
    tl.store(indices_ptr + out, idx, mask=slots < K)


def moe_gating(logits, k):
    tokens, experts = logits.shape
    weights = torch.empty((tokens, k), dtype=torch.float32, device=logits.device)
    indices = torch.empty((tokens, k), dtype=torch.int32, device=logits.device)
    if tokens == 0:
        return weights, indices
    gating_kernel[(tokens,)](logits, weights, indices, experts, logits.stride(0), K=k,
                             BLOCK_E=triton.next_power_of_2(experts), BLOCK_K=triton.next_power_of_2(k))
    return weights, indices
# EVOLVE-BLOCK-END
