"""float32 natural log(x) from float32 arithmetic: split exponent and mantissa, a polynomial.

log(x) = e ln 2 + log(m), x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(1 + f) by a
polynomial in f = m - 1. The evaluator passes a float32 array of positive finite inputs
(subnormals included) and wants a float32 array of the same shape back. Only NumPy
arithmetic ufuncs are allowed (no np.log, np.log2, np.log1p, math.log, no scipy).
"""
import numpy as np


def log_f32(x):
    # EVOLVE-BLOCK-START
    f32 = np.float32
    # subnormal inputs: scale by 2^23 first so the exponent field holds their binade
    sub = x < f32(1.17549435e-38)
    x = np.where(sub, x * f32(8388608.0), x)
    bits = x.view(np.int32)
    e = (bits >> 23) - 127 - np.where(sub, 23, 0).astype(np.int32)
    m = ((bits & 0x007FFFFF) | 0x3F800000).view(np.float32)  # mantissa in [1, 2)
    big = m > f32(1.41421356)
    m = np.where(big, m * f32(0.5), m)
    ef = (e + big.astype(np.int32)).astype(np.float32)
    f = m - f32(1.0)
    z = f * f
    # log(1 + f) = f - f^2/2 + f^3 P(f), |f| <= 0.4142 (minimax, Horner)
    p = f32(7.0376836292e-2)
    p = p * f + f32(-1.1514610310e-1)
    p = p * f + f32(1.1676998740e-1)
    p = p * f + f32(-1.2420140846e-1)
    p = p * f + f32(1.4249322787e-1)
    p = p * f + f32(-1.6668057665e-1)
    p = p * f + f32(2.0000714765e-1)
    p = p * f + f32(-2.4999993993e-1)
    p = p * f + f32(3.3333331174e-1)
    y = p * f * z
    # add e ln 2 with ln 2 split in two parts (Cody-Waite)
    y = y + ef * f32(-2.12194440e-4)
    y = y - f32(0.5) * z
    return (f + y) + ef * f32(0.693359375)
    # EVOLVE-BLOCK-END
