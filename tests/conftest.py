import pytest

from crosscheck.goldens import GOLDEN_DIR


@pytest.fixture
def original_datadir() -> object:
    # One folder of goldens for every test module, so the report and the orphan check find them.
    return GOLDEN_DIR
