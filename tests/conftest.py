"""The trace cache is per process; a test that patches a network must not leave patched traces behind.

Nothing is imported from the harness at module level, so loading this file does not load torch.
Golden files, the CI refusal of regeneration and the end-of-run summary come from the plugin that
nn-crosscheck installs (``crosscheck.plugin``), as in any project that uses it.
"""

import pytest

# tests/test_plugin.py runs nested pytest sessions.
pytest_plugins = ["pytester"]


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
