"""The README's worked example: the one test a user writes for their own network."""

import re
from pathlib import Path

from crosscheck import parametrize_with_checks
from examples.xor_net import XOR_NET


@parametrize_with_checks([XOR_NET])
def test_xor_net(case, check):
    check(case)


def registration_code(readme: Path) -> list[list[str]]:
    """The lines of code of each README block that registers a case: everything but imports, the data
    (``X = ...``, ``Y = ...``), comments and blank lines."""
    found = []
    for block in re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S):
        if "= register(" not in block:
            continue
        code = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        found.append([line for line in code if not line.startswith(("import ", "from ", "X = ", "Y = "))])
    return found


def test_a_network_that_follows_the_protocol_registers_in_at_most_12_lines():
    # The README's two registrations: the XOR example (gradients and update by name) and the walk-through's
    # network with its own step and momentum (which nox -s outside runs as written).
    found = registration_code(Path(__file__).parents[1] / "README.md")
    assert [len(lines) for lines in found] == [10, 12], ["\n".join(lines) for lines in found]
