"""The digits example's data is scikit-learn's digits, as ``load_digits`` gives them.

In a file of its own: it reads no full run, so under xdist it need not wait in the unit of the tests
that do (``FULL_RUN_READERS`` in ``tests/conftest.py``), and scikit-learn's import (0.7-1 s, SciPy)
runs beside them.
"""

import numpy as np

from examples.digits import LABELS, PIXELS


def test_data_is_load_digits():
    from sklearn.datasets import load_digits  # imported here, not by the case: it costs 0.7-1 s (SciPy)

    pixels, labels = load_digits(return_X_y=True)
    np.testing.assert_array_equal(PIXELS, pixels)
    np.testing.assert_array_equal(LABELS, labels)
