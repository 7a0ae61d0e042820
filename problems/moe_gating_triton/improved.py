"""A faster moe_gating (for comparison with initial.py): many tokens per program, no full softmax.

The renormalized top-k weights are exp(l_i - m) / sum over the chosen j of exp(l_j - m):
the softmax's denominator cancels, so the kernel picks the top k logits directly and
exponentiates only those. BLOCK_T tokens share a program (a 2-D tile), which keeps
the GPU busy when there are few experts per token.
"""
import torch
import triton
import triton.language as tl


# EVOLVE-BLOCK-START
@triton.jit
def gating_kernel(logits_ptr, weights_ptr, indices_ptr, n_tokens, n_experts, stride_row,
                  K: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_K: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_E)
    row_ok = rows < n_tokens
    mask = row_ok[:, None] & (cols[None, :] < n_experts)
    x = tl.load(logits_ptr + rows[:, None] * stride_row + cols[None, :], mask=mask, other=-float("inf"))
    slots = tl.arange(0, BLOCK_K)
    top = tl.full([BLOCK_T, BLOCK_K], -float("inf"), tl.float32)
    idx = tl.zeros([BLOCK_T, BLOCK_K], dtype=tl.int32)
    for i in tl.static_range(K):
        best = tl.max(x, axis=1)
        pick = tl.min(tl.where(x == best[:, None], cols[None, :], BLOCK_E), axis=1)  # ties: lowest index
        top = tl.where(slots[None, :] == i, best[:, None], top)
        idx = tl.where(slots[None, :] == i, pick[:, None], idx)
        x = tl.where(cols[None, :] == pick[:, None], -float("inf"), x)
    m = tl.max(top, axis=1)
    e = tl.where(slots[None, :] < K, tl.exp(top - m[:, None]), 0.0)
    w = e / tl.sum(e, axis=1)[:, None]
    out = rows[:, None] * K + slots[None, :]
    keep = row_ok[:, None] & (slots[None, :] < K)
    tl.store(weights_ptr + out, w, mask=keep)
    tl.store(indices_ptr + out, idx, mask=keep)


def moe_gating(logits, k):
    tokens, experts = logits.shape
    weights = torch.empty((tokens, k), dtype=torch.float32, device=logits.device)
    indices = torch.empty((tokens, k), dtype=torch.int32, device=logits.device)
    if tokens == 0:
        return weights, indices
    block_e = triton.next_power_of_2(experts)
    block_t = max(1, min(64, 4096 // block_e))
    grid = (triton.cdiv(tokens, block_t),)
    gating_kernel[grid](logits, weights, indices, tokens, experts, logits.stride(0), K=k,
                        BLOCK_T=block_t, BLOCK_E=block_e, BLOCK_K=triton.next_power_of_2(k))
    return weights, indices
# EVOLVE-BLOCK-END
