import pytest

from evolve.mutate.blocks import block_text, find_blocks, replace_blocks

CODE = """import math

def f(x):
    # EVOLVE-BLOCK-START
    y = x + 1
    return y
    # EVOLVE-BLOCK-END

# EVOLVE-BLOCK-START
K = 3
# EVOLVE-BLOCK-END
"""


def test_find_blocks_and_text():
    blocks = find_blocks(CODE)
    assert [(b.start, b.end, b.indent) for b in blocks] == [(4, 6, "    "), (9, 10, "")]
    assert block_text(CODE, blocks[0]) == "y = x + 1\nreturn y\n"


def test_replace_keeps_everything_outside():
    out = replace_blocks(CODE, {0: "return x * 2\n", 1: "K = 4\n"})
    assert "    return x * 2\n    # EVOLVE-BLOCK-END" in out
    assert "K = 4" in out and "import math" in out
    assert out.count("EVOLVE-BLOCK-START") == 2


@pytest.mark.parametrize("bad", ["# EVOLVE-BLOCK-START\nx=1\n", "x=1\n# EVOLVE-BLOCK-END\n",
                                 "# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n"])
def test_unbalanced_markers(bad):
    with pytest.raises(ValueError):
        find_blocks(bad)
