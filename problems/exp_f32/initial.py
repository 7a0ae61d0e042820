"""float32 exp(x) from float32 arithmetic: reduce by ln 2, a polynomial, scale by 2^k.

exp(x) = 2^k * exp(r), k = round(x / ln 2), r = x - k ln 2 in [-ln2/2, ln2/2].
The evaluator passes a float32 array of inputs in about [-87.34, 88.72] and wants a
float32 array of the same shape back. Only NumPy arithmetic ufuncs are allowed (no
np.exp, np.power, math.exp, ** with a non-integer exponent, no scipy).
"""
import numpy as np


def exp_f32(x):
    # EVOLVE-BLOCK-START
    f32 = np.float32
    # k = nearest integer to x / ln 2
    k = np.rint(x * f32(1.44269504088896341))
    # r = x - k ln2, with ln 2 split in two parts (Cody-Waite) so k * ln2_hi is exact
    r = x - k * f32(0.693359375)
    r = r - k * f32(-2.12194440e-4)
    # exp(r) on |r| <= ln2/2: minimax polynomial (Horner)
    p = f32(1.9875691500e-4)
    p = p * r + f32(1.3981999507e-3)
    p = p * r + f32(8.3334519073e-3)
    p = p * r + f32(4.1665795894e-2)
    p = p * r + f32(1.6666665459e-1)
    p = p * r + f32(5.0000001201e-1)
    p = p * (r * r) + r + f32(1.0)
    # 2^k through the exponent bits, in two halves so k = 128 does not overflow
    ki = k.astype(np.int32)
    k1 = ki >> 1
    k2 = ki - k1
    s1 = ((k1 + 127) << 23).view(np.float32)
    s2 = ((k2 + 127) << 23).view(np.float32)
    return p * s1 * s2
    # EVOLVE-BLOCK-END
