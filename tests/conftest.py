"""Where goldens live, and the rule that a CI run never rewrites them.

Nothing is imported from the harness at module level, so loading this file does not load torch.
"""

import pytest

# tests/test_golden_integrity.py runs a nested pytest session with this file as its conftest.
pytest_plugins = ["pytester"]


def pytest_configure(config: pytest.Config) -> None:
    force_regen, regen_all = config.getoption("force_regen", False), config.getoption("regen_all", False)
    if force_regen or regen_all:
        from crosscheck.goldens import regeneration_refusal

        refusal = regeneration_refusal(force_regen, regen_all)
        if refusal is not None:
            raise pytest.UsageError(refusal)


@pytest.fixture
def original_datadir() -> object:
    # One folder of goldens for every test module, so the report and the orphan check find them.
    from crosscheck.goldens import GOLDEN_DIR

    return GOLDEN_DIR


@pytest.fixture(autouse=True)
def _patched_traces_do_not_outlive_the_test(request: pytest.FixtureRequest) -> object:
    # A test that patches a scratch network and then fills the per-process trace cache would hand
    # every later test a trace of the patched network; restore the cache after such a test.
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    from crosscheck import trace

    saved = dict(trace._CACHE)
    yield
    trace._CACHE.clear()
    trace._CACHE.update(saved)
