"""Input validation shared by the scratch networks: bad input raises, never broadcasts.

The rule for dtypes: *data* (inputs and targets) may be integer, because the
tutorials' datasets are written as integer arrays; it is converted to the
parameters' float dtype.  *Parameters* must already be floats: an integer
parameter cannot take a fractional gradient step, and converting it quietly
would hide a caller's mistake.  Every message says what was wrong and how to fix it.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _first_non_finite(arr: NDArray[np.floating]) -> str:
    """Where the first NaN or Inf of ``arr`` sits and what it is, for a message."""
    at = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    return f"{arr[at]} at index {at}" if at else f"{arr[()]}"


def float_param(name: str, value: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.floating]:
    """A parameter as a float array of exactly ``shape``, finite, never an integer array."""
    arr = np.array(value)  # a copy: the network must not alias the caller's array
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{name} must be a float array, got dtype {arr.dtype}; "
            f"an integer parameter cannot take a gradient step (use .astype(np.float64))"
        )
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} contains {_first_non_finite(arr)}; parameters must be finite "
            f"(one NaN or Inf spoils every step after it)"
        )
    return arr


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_hint(name: str, want: tuple[int | None, ...], got: tuple[int, ...]) -> str:
    """How to fix the two shape mistakes that NumPy would otherwise broadcast silently."""
    if len(want) == 1 and len(got) == 2 and got[1] == 1:
        return f"; pass {name}.ravel() (an (n, 1) column against (n,) predictions broadcasts to (n, n))"
    if len(want) == 2 and want[1] == 1 and len(got) == 1:
        return f"; pass {name}.reshape(-1, 1) ((n,) targets against (n, 1) outputs broadcast to (n, n))"
    return ""


def data(name: str, value: ArrayLike, shape: tuple[int | None, ...], dtype: np.dtype) -> NDArray[np.floating]:
    """Inputs or targets cast to the parameters' dtype, with their shape checked.

    Integer data (the tutorials' datasets are integers) is converted: it is data, not a parameter.
    ``None`` in ``shape`` matches any length.
    """
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}; pass a float or integer array")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
        raise ValueError(
            f"{name} must have shape {_shape_text(shape)}, got {arr.shape}{_shape_hint(name, shape, arr.shape)}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); training needs at least one sample")
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains {_first_non_finite(arr)}; drop or fill that sample before training")
    return arr


def sample(name: str, value: ArrayLike, n_features: int, batch: bool = False) -> None:
    """A sample of ``n_features`` finite numbers, or with ``batch`` a stack (n, ``n_features``) of them.

    Checked, not copied or converted: this runs on every step, and the tutorial's arithmetic must see
    the caller's array unchanged.
    """
    shape = np.shape(value)
    if shape != (n_features,) and not (batch and len(shape) == 2 and shape[1] == n_features):
        want = f"({n_features},)" + (f" or (n, {n_features})" if batch else "")
        raise ValueError(f"{name} must have shape {want}, got {shape}; each sample has {n_features} features")
    if not np.isfinite(value).all():  # not np.all(...), whose wrapper costs as much as the check
        raise ValueError(f"{name} contains NaN or Inf: {np.asarray(value)}")


def positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}; gradient descent needs a step > 0")
    return float(value)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be at least 1, got {value!r}")
    return int(value)
