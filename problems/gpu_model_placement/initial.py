"""GPU model placement: put each model on an 80 GB GPU so the worst KV-cache pressure is least.

API: `place(gpu_num, models) -> {gpu id: [model names]}`, GPU ids 0..gpu_num-1, every model exactly once.
Each model has `model_name`, `model_size` (GB), `req_rate` (req/s) and `slo`. A GPU's pressure is
sum(req_rate / slo) / (80 - sum(model_size)); the objective is the highest pressure over the GPUs.
A GPU's models must fit in 80 GB. Starting program: greedy, biggest models first.
"""

GPU_MEM = 80


def place(gpu_num, models):
    """Place models one at a time, in `order_key` order, on the GPU `gpu_score` likes best."""
    gpus = [[] for _ in range(gpu_num)]
    for m in sorted(models, key=order_key, reverse=True):
        fits = [g for g in range(gpu_num) if used(gpus[g]) + m.model_size < GPU_MEM]
        best = min(fits or range(gpu_num), key=lambda g: (gpu_score(gpus[g], m), g))
        gpus[best].append(m)
    return {g: [m.model_name for m in ms] for g, ms in enumerate(gpus)}


def used(ms):
    """GB taken by models `ms`."""
    return sum(m.model_size for m in ms)


def load(ms):
    """The KV-cache demand of models `ms`: sum of rate / slo."""
    return sum(m.req_rate / m.slo for m in ms)


# EVOLVE-BLOCK-START
SIZE_WEIGHT = 1.0  # how much a model's size puts it early in the order
LOAD_WEIGHT = 0.0  # how much its demand (rate / slo) does
FREE_WEIGHT = 0.0  # prefer GPUs with more free memory left


def order_key(m):
    """Models with a higher key are placed first."""
    return SIZE_WEIGHT * m.model_size + LOAD_WEIGHT * m.req_rate / m.slo


def gpu_score(ms, m):
    """Lower is better: the GPU's pressure once `m` is added."""
    free = GPU_MEM - used(ms) - m.model_size
    return (load(ms) + m.req_rate / m.slo) / free - FREE_WEIGHT * free
# EVOLVE-BLOCK-END
