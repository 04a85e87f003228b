"""A real-size network through the public API: a 64-128-10 MLP on scikit-learn's digits.

1,797 8x8 images, pixels 0..16 scaled to [0, 1], one-hot float64 targets; one epoch of mini-batch
SGD over 1,440 of them (batches of 32 in an order shuffled by the case's random stream; the other
357 are held out to test the trained network), compared step by step with an ``nn.Linear`` twin
trained by ``torch.optim.SGD``.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np

from crosscheck import Case, Data, Link, Scratch, Twin, register, shuffled_batches
from reference import mlp as ref
from scratch import mlp

BATCH_SIZE = 32
EPOCHS = 1
LEARNING_RATE = 0.5
RECORD_EVERY = 8


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(X, labels) of ``sklearn.datasets.load_digits``: X (1797, 64) float64, labels (1797,) int.

    Reads the file scikit-learn ships, ``sklearn/datasets/data/digits.csv.gz``, the way
    ``load_digits`` does (``np.loadtxt``, comma-separated, label in the last column), without
    importing ``sklearn.datasets``: that import pulls in SciPy and costs 0.8-1 s in every
    process that loads the registry (tests/test_digits.py checks the arrays are ``load_digits``').
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the digits example needs scikit-learn: pip install scikit-learn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


PIXELS, LABELS = load_digits()
# Every batch must have the same shape (a trace stacks each step's output), and 1,797 = 3 * 599 has
# no divisor near 32: train on the first 1,440 images (45 batches of 32), hold out the other 357.
N_TRAIN = 45 * BATCH_SIZE
X = PIXELS[:N_TRAIN] / 16.0
Y = np.eye(mlp.N_OUT)[LABELS[:N_TRAIN]]  # one-hot rows: targets share the case's dtype, float64
X_TEST, LABELS_TEST = PIXELS[N_TRAIN:] / 16.0, LABELS[N_TRAIN:]
STEPS = EPOCHS * len(X) // BATCH_SIZE


def init(rng: np.random.RandomState | np.random.Generator) -> dict[str, np.ndarray]:
    """nn.Linear's own scheme, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from the case's stream."""
    b1, b2 = 1 / math.sqrt(mlp.N_IN), 1 / math.sqrt(mlp.HIDDEN)
    return {
        "W1": rng.uniform(-b1, b1, (mlp.N_IN, mlp.HIDDEN)),
        "b1": rng.uniform(-b1, b1, mlp.HIDDEN),
        "W2": rng.uniform(-b2, b2, (mlp.HIDDEN, mlp.N_OUT)),
        "b2": rng.uniform(-b2, b2, mlp.N_OUT),
    }


DIGITS = register(
    Case(
        name="digits_mlp",
        description=f"64-128-10 ReLU MLP, softmax cross-entropy; {EPOCHS} epoch of SGD on load_digits, "
        f"batches of {BATCH_SIZE}, lr {LEARNING_RATE}",
        scratch=Scratch(
            params={
                "W1": Link("hidden.weight", transpose=True),
                "b1": Link("hidden.bias"),
                "W2": Link("output.weight", transpose=True),
                "b2": Link("output.bias"),
            },
            init=init,
            build=lambda params, lr: mlp.MLP(**params, learning_rate=lr),
            forward=mlp.MLP.forward,
            loss=mlp.cross_entropy,
            loss_gradient=mlp.cross_entropy_gradient,
            gradients=mlp.MLP.gradients,
            update=lambda net, grads, lr: net.step(grads),
            evaluate=lambda net, X, y: mlp.cross_entropy(net.forward(X), y),
        ),
        twin=Twin(
            module=ref.MLP,
            loss=ref.cross_entropy,
            evaluate=lambda m, X, y: ref.cross_entropy(m(X), y),
        ),
        data=Data(
            X=X,
            y=Y,
            batches=shuffled_batches(len(X), BATCH_SIZE, EPOCHS),
            learning_rate=LEARNING_RATE,
            curve_steps=sorted({*range(0, STEPS, RECORD_EVERY), STEPS - 1}),
        ),
    )
)
