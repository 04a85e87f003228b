"""Worked example: a small convolutional network as a blog post writes it from scratch (a 3x3 convolution, a
2x2 max-pool, a dense softmax layer), trained one image at a time on scikit-learn's 8x8 digits; cross-checked
against ``nn.Conv2d``, ``nn.MaxPool2d`` and ``nn.Linear`` trained by ``torch.optim.SGD``.

Each layer keeps its gradients to itself: its ``backward(d_out, lr)`` computes them, steps its own weights
and hands back only the gradient of its input; ``train(image, label, lr)`` returns the loss.  The harness reads
each gradient inside the ``backward`` that computes it (``Capture``).  The forward
passes broadcast over leading axes, so the same ``forward`` takes one image or the whole set.  The max-pool
routes a window's gradient to its first maximum, as torch does (a blank corner of a digit gives ties).
``FlippedKernelConv`` computes the filters' gradient with the kernel flipped, the mix-up of convolution
and cross-correlation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crosscheck import Capture, Case, Data, Link, Scratch, Twin, register
from crosscheck.case import vary
from examples.digits import load_digits

FILTERS, CLASSES, SAMPLES, LEARNING_RATE = 4, 10, 60, 0.05

_PIXELS, _LABELS = load_digits()
X = _PIXELS[:SAMPLES].reshape(-1, 8, 8) / 16 - 0.5  # pixels 0..16 centred on zero
LABELS = _LABELS[:SAMPLES].astype(np.int64)


class Conv3x3:
    """FILTERS 3x3 filters, no bias, 'valid' cross-correlation: (..., 8, 8) -> (..., 6, 6, FILTERS)."""

    def __init__(self, rng: np.random.RandomState) -> None:
        self.filters = rng.randn(FILTERS, 3, 3) / 9  # keeps the first outputs small

    def forward(self, image: np.ndarray) -> np.ndarray:
        self.regions = np.lib.stride_tricks.sliding_window_view(image, (3, 3), axis=(-2, -1))
        return np.einsum("...ijkl,fkl->...ijf", self.regions, self.filters)

    def backward(self, d_out: np.ndarray, lr: float) -> None:
        d_filters = np.einsum("ijf,ijkl->fkl", d_out, self.regions)
        self.filters -= lr * d_filters  # the first layer: no input gradient to hand back


class MaxPool2:
    """2x2 max-pool, stride 2: (..., 6, 6, f) -> (..., 3, 3, f)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        *lead, h, w, f = x.shape
        # each pooling window's four values on the last axis, in row-major order
        windows = np.moveaxis(x.reshape(*lead, h // 2, 2, w // 2, 2, f), (-4, -2), (-2, -1))
        self.windows = windows.reshape(*lead, h // 2, w // 2, f, 4)
        return self.windows.max(axis=-1)

    def backward(self, d_out: np.ndarray) -> np.ndarray:
        d = np.zeros_like(self.windows)
        first_max = self.windows.argmax(axis=-1)[..., None]  # ties go to the first, as in torch
        np.put_along_axis(d, first_max, d_out[..., None], axis=-1)
        h, w, f = d_out.shape
        return d.reshape(h, w, f, 2, 2).transpose(0, 3, 1, 4, 2).reshape(2 * h, 2 * w, f)


class DenseSoftmax:
    """Flatten, x @ W + b, softmax: (..., 3, 3, f) -> class probabilities (..., CLASSES)."""

    def __init__(self, n_in: int, rng: np.random.RandomState) -> None:
        self.W = rng.randn(n_in, CLASSES) / n_in
        self.b = np.zeros(CLASSES)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.in_shape = x.shape[-3:]
        self.flat = x.reshape(*x.shape[:-3], -1)
        e = np.exp(self.flat @ self.W + self.b)
        return e / e.sum(axis=-1, keepdims=True)

    def backward(self, probs: np.ndarray, label: int, lr: float) -> np.ndarray:
        """From the loss -log(probs[label]); steps W and b, returns the gradient of the input."""
        d_totals = probs.copy()
        d_totals[label] -= 1  # softmax and cross-entropy together: p - one_hot
        d_input = self.W @ d_totals  # with the weights this step's forward used
        d_W = np.outer(self.flat, d_totals)
        self.W -= lr * d_W
        self.b -= lr * d_totals
        return d_input.reshape(self.in_shape)


class SmallCNN:
    def __init__(self, rng: np.random.RandomState, conv: type[Conv3x3] = Conv3x3) -> None:
        self.conv, self.pool, self.softmax = conv(rng), MaxPool2(), DenseSoftmax(3 * 3 * FILTERS, rng)

    def forward(self, images: np.ndarray) -> np.ndarray:
        return self.softmax.forward(self.pool.forward(self.conv.forward(images)))

    def train(self, image: np.ndarray, label: int, lr: float) -> np.float64:
        probs = self.forward(image)
        d = self.softmax.backward(probs, label, lr)
        self.conv.backward(self.pool.backward(d), lr)
        return -np.log(probs[label])


class FlippedKernelConv(Conv3x3):
    """Bug: the filters' gradient taken with each region flipped (a true convolution where the forward is a
    cross-correlation).  The forward agrees, so step 0's loss does too; the filters' gradient does not."""

    def backward(self, d_out: np.ndarray, lr: float) -> None:
        d_filters = np.einsum("ijf,ijkl->fkl", d_out, self.regions[..., ::-1, ::-1])
        self.filters -= lr * d_filters


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of -log(probability of the label): one image's probabilities (10,) or a set's (n, 10)."""
    picked = np.take_along_axis(np.atleast_2d(probs), np.reshape(labels, (-1, 1)), axis=1)
    return -np.mean(np.log(picked))


def twin_loss(probs: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(torch.log(probs), label)


class CNNTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, FILTERS, 3, bias=False, dtype=dtype)
        self.dense = nn.Linear(3 * 3 * FILTERS, CLASSES, dtype=dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.conv(images.reshape(-1, 1, 8, 8)), 2)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (h, w, f) order, as the scratch side flattens
        return F.softmax(self.dense(x), dim=-1).reshape(*images.shape[:-2], CLASSES)


def in_order(rng: np.random.RandomState | np.random.Generator) -> list[int]:
    """One image a step, in the data's order."""
    return list(range(SAMPLES))


def bugged_case() -> Case:
    """The case with ``FlippedKernelConv``: the gate must fail at step 0, on the filters' gradient."""
    return vary(NET, network=lambda rng: SmallCNN(rng, conv=FlippedKernelConv), name=NET.name + "_bug")


# --- the registration: everything below is what a user writes --------------------------------
# torch keeps the filters as (f, 1, 3, 3), nn.Linear its weight as (out, in)
PARAMS = {"conv.filters": Link("conv.weight", (slice(None), 0)), "softmax.W": Link("dense.weight", transpose=True)}
PARAMS["softmax.b"] = Link("dense.bias")
# each layer's backward computes its gradients and steps its weights: the harness reads them there
GRADIENTS = [Capture("conv.backward", {"filters": "d_filters"})]
GRADIENTS.append(Capture("softmax.backward", {"W": "d_W", "b": "d_totals"}))
NET = register(
    Case(
        name="small_cnn",
        description=f"3x3 conv ({FILTERS} filters), 2x2 max-pool, dense softmax on 8x8 digits, one image a step",
        scratch=Scratch(PARAMS, cross_entropy, network=SmallCNN, step="train", capture=GRADIENTS),
        twin=Twin(CNNTwin, twin_loss),
        data=Data(X, LABELS, in_order, LEARNING_RATE, curve_steps=range(0, SAMPLES, 10)),
    )
)
