"""Why a proposal wrote no child: the start of a rejected program's `error` (`evolve status` counts them)."""

PATCH_FAILED = "patch_failed"  # an answer came, but gave no program (no patch, one that does not apply, empty)
LLM_FAILED = "llm_failed"  # no answer: the model failed after its retries
BUDGET_CUT = "budget_cut"  # a budget (max_llm_calls, max_usd) stopped the conversation
REJECTIONS = (PATCH_FAILED, LLM_FAILED, BUDGET_CUT)
