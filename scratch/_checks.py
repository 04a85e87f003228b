"""Input validation shared by the scratch networks: bad input raises, never broadcasts."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray


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
        raise ValueError(f"{name} contains NaN or Inf: {arr}")
    return arr


def data(name: str, value: ArrayLike, shape: tuple[int | None, ...], dtype: np.dtype) -> NDArray[np.floating]:
    """Inputs or targets cast to the parameters' dtype, with their shape checked.

    Integer data (the tutorials' datasets are integers) is converted: it is data, not a parameter.
    ``None`` in ``shape`` matches any length.
    """
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
        want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    arr = arr.astype(dtype, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(float(value)) or value <= 0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return int(value)
