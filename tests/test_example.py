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


def test_the_readmes_worked_example_is_the_registration_tested_here():
    # The README shows the registration of examples/xor_net.py, which test_xor_net checks: a change to either that
    # the other does not follow fails here (the walk-through's second registration is run by nox -s outside).
    worked = registration_code(Path(__file__).parents[1] / "README.md")[0]
    source = (Path(__file__).parents[1] / "examples" / "xor_net.py").read_text(encoding="utf-8").splitlines()
    assert [line for line in worked if line not in source] == []
    assert "XOR_NET = register(" in worked
