"""Input validation for the twins: ``F.mse_loss`` only warns and broadcasts, ``nn.Linear`` takes NaN.

A twin is the oracle the scratch code is judged by, so a wrong shape or a NaN
must stop it with a message rather than produce a number.
"""

from __future__ import annotations

import math

import torch


def float_dtype(dtype: torch.dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float64, got {dtype!r}")
    return dtype


def positive_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _transformed(t: torch.Tensor) -> bool:
    """True inside ``torch.func.vmap``/``grad`` (the seed sweep runs the twins so): there a tensor's
    values cannot steer Python code, so the value checks are skipped; shapes and dtypes are still checked."""
    return bool(torch._C._functorch.is_functorch_wrapped_tensor(t))


def _non_finite(t: torch.Tensor) -> str | None:
    """Where the first NaN or Inf of ``t`` sits and what it is, or None when ``t`` is finite (or transformed)."""
    if _transformed(t):
        return None
    values = t.detach()
    # One reduction on the hot path (it runs at every step): any NaN or Inf makes the sum NaN or Inf.
    if math.isfinite(values.sum().item()):
        return None
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return None  # finite values whose sum overflowed
    at = tuple(int(i) for i in torch.nonzero(bad)[0])
    return f"{values[at].item()} at index {at}" if at else f"{values.item()}"


def forward_input(module: torch.nn.Module, x: object, n_features: int) -> None:
    """``x`` is one sample (n_features,) or a batch (n, n_features) of the module's dtype; x and
    every parameter are finite."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}; use torch.as_tensor(x)")
    parameters = list(module.named_parameters())
    dtype = parameters[0][1].dtype
    if x.dtype != dtype:
        raise TypeError(f"x is {x.dtype} but the network is {dtype}; convert it with x.to({dtype})")
    if x.ndim not in (1, 2) or x.shape[-1] != n_features:
        raise ValueError(f"x must have shape ({n_features},) or (n, {n_features}), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    where = _non_finite(x)
    if where is not None:
        raise ValueError(f"x contains {where}")
    for name, p in parameters:
        where = _non_finite(p)
        if where is not None:
            raise ValueError(f"parameter {name} contains {where}; load finite parameters into the twin")


def loss_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    """Prediction and target pair up element by element: same shape, same dtype, finite target.

    ``F.mse_loss`` would warn and broadcast a (4,) target against a (4, 1) prediction to (4, 4),
    pairing every prediction with every target.
    """
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}; use torch.as_tensor(target)")
    if prediction.shape != target.shape:
        try:
            spread = tuple(torch.broadcast_shapes(prediction.shape, target.shape))
            why = f"F.mse_loss would broadcast them to {spread}, pairing every prediction with every target"
        except RuntimeError:
            why = "they do not pair up element by element"
        shape = ", ".join(map(str, prediction.shape)) or "()"
        raise ValueError(
            f"prediction has shape {tuple(prediction.shape)} but target has shape {tuple(target.shape)}; "
            f"{why}: give the target the prediction's shape (target.reshape({shape}))"
        )
    if prediction.dtype != target.dtype:
        raise TypeError(
            f"prediction is {prediction.dtype} but target is {target.dtype}; convert with target.to({prediction.dtype})"
        )
    if target.numel() == 0:
        raise ValueError(f"target is empty (shape {tuple(target.shape)})")
    where = _non_finite(target)
    if where is not None:
        raise ValueError(f"target contains {where}")
