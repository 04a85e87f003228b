"""Input validation for the twins: ``F.mse_loss`` only warns and broadcasts a wrong shape.

A twin is the oracle the scratch code is judged by, so a wrong shape or dtype must stop it with a
message rather than produce a number.  These checks run at every step, so they look at types and
shapes only, which costs no tensor operation.  Values are the harness's to check, once and not per
step: the data and the initial parameters must be finite when a case is registered, and a NaN or Inf
that training produces is named with its step and side where the traces are compared.
"""

from __future__ import annotations

import torch


def float_dtype(dtype: torch.dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float64, got {dtype!r}")
    return dtype


def positive_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def forward_input(dtype: torch.dtype, x: object, n_features: int) -> None:
    """``x`` is one sample (n_features,) or a batch (n, n_features) of the module's ``dtype``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}; use torch.as_tensor(x)")
    if x.dtype != dtype:
        raise TypeError(f"x is {x.dtype} but the network is {dtype}; convert it with x.to({dtype})")
    if x.ndim not in (1, 2) or x.shape[-1] != n_features:
        raise ValueError(f"x must have shape ({n_features},) or (n, {n_features}), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")


def loss_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    """Prediction and target pair up element by element: same shape, same dtype.

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
