"""Every JSON file the project writes is strict JSON: no NaN or Infinity, and numbers stay numbers."""

import json

import numpy as np
import pytest

from crosscheck import jsonfile


def _strict(text):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_and_say_which_way():
    data = {
        "max_abs": np.float64(np.inf),
        "per_step": np.array([0.5, -np.inf, np.nan]),
        "nested": [{"worst": float("nan")}, [1.0, [2.0, np.inf]]],
        "steps": np.int64(3),
        "passed": np.bool_(False),
        "fine": 1e-14,
    }
    parsed = _strict(jsonfile.dumps(data))
    assert parsed == {
        "max_abs": None,
        "max_abs_nonfinite": "inf",
        "per_step": [0.5, None, None],
        "per_step_nonfinite": {"1": "-inf", "2": "nan"},
        "nested": [{"worst": None, "worst_nonfinite": "nan"}, [1.0, [2.0, None]]],
        "nested_nonfinite": {"1.1.1": "inf"},
        "steps": 3,
        "passed": False,
        "fine": 1e-14,
    }
    assert jsonfile.loads(jsonfile.dumps(data)) == parsed


def test_loads_refuses_what_python_json_would_accept():
    with pytest.raises(ValueError, match="Infinity is not JSON"):
        jsonfile.loads('{"x": Infinity}')
