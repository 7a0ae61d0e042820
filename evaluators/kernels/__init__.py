"""Kernel problems: float32 transcendental approximations (CPU) and a Triton MoE gating kernel (GPU).

Evaluators, named in the problem YAML:
- `evaluators.kernels.transcendental`: exp_f32 / log_f32, ULP error against the
  correctly rounded reference, op count, time ratio, exhaustive `verify`.
- `evaluators.kernels.moe_gating`: a fused softmax + top-k Triton kernel against torch;
  on a machine without CUDA the correctness stage runs under Triton's interpreter.
This package imports neither torch nor triton; only `moe_gating` does, when used.
"""
