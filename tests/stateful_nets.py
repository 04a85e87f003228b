"""Networks whose state is more than their parameters, for the full-state tests (tests/test_full_state.py).

- ``RNN``: an Elman network over a long sequence cut into chunks, one chunk a step, its hidden state carried
  from one chunk to the next (``self.h``, a constant of the next chunk's gradient, as truncated
  backpropagation through time has it); its own step leaves the gradients behind.  The twin keeps ``self.h``
  too, detached between calls.
- ``CACHED``: the fixture's 2-3-1 whose ``gradients()`` reads what ``forward`` cached (no forward of its own),
  as the README allows.
- ``ANNEALED``: a 2-3-1 whose output is scaled by ``1 + t / 10``, ``t`` the step count the network keeps
  (advanced by its update, as the twin's by its training forward), trained with a learning-rate warm-up read
  from the same count (the twin: a ``LambdaLR``).
"""

import numpy as np
import torch
from fixture_net import Net, TwinNet, make_case, mse
from torch import nn
from torch.nn import functional as F

from crosscheck import Case, Data, Link, Scratch, Twin, vary

HIDDEN, INPUTS, CHUNK, CHUNKS = 3, 2, 5, 24
_rng = np.random.RandomState(7)
SEQUENCE = _rng.normal(size=(CHUNK * CHUNKS, INPUTS))
# A target that needs the memory: the first input one time step back.
TARGET = np.concatenate([[0.0], SEQUENCE[:-1, 0]])[:, None] * 0.5


class ElmanRNN:
    """h_t = tanh(x_t Wx + h_(t-1) Wh + b), output h_t V + c, over one chunk; h carried across chunks."""

    def __init__(self, Wx, Wh, b, V, c):
        self.Wx, self.Wh, self.b, self.V, self.c = Wx, Wh, b, V, c
        self.h = np.zeros(HIDDEN)

    def _states(self, x):
        hs = [self.h]
        for x_t in x:
            hs.append(np.tanh(x_t @ self.Wx + hs[-1] @ self.Wh + self.b))
        return hs

    def forward(self, x):
        hs = self._states(x)
        self.h = hs[-1]
        return np.stack(hs[1:]) @ self.V + self.c

    def _into(self, hs, t):
        """The state entering time step t of the chunk (the carried one at t = 0)."""
        return hs[t]

    def train_step(self, x, y, lr):
        hs = self._states(x)
        states = np.stack(hs[1:])
        out = states @ self.V + self.c
        d_out = 2 * (out - y) / y.size
        self.dV, self.dc = states.T @ d_out, d_out.sum(0)
        self.dWx, self.dWh, self.db = np.zeros_like(self.Wx), np.zeros_like(self.Wh), np.zeros_like(self.b)
        carried = np.zeros(HIDDEN)
        for t in reversed(range(len(x))):
            da = (d_out[t] @ self.V.T + carried) * (1 - hs[t + 1] ** 2)
            self.dWx += np.outer(x[t], da)
            self.dWh += np.outer(self._into(hs, t), da)
            self.db += da
            carried = da @ self.Wh.T
        for name in ("Wx", "Wh", "b", "V", "c"):
            setattr(self, name, getattr(self, name) - lr * getattr(self, "d" + name))
        self.h = hs[-1]
        return out, mse(out, y)


class TwinRNN(nn.Module):
    def __init__(self, dtype):
        super().__init__()
        self.Wx = nn.Parameter(torch.zeros(INPUTS, HIDDEN, dtype=dtype))
        self.Wh = nn.Parameter(torch.zeros(HIDDEN, HIDDEN, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(HIDDEN, dtype=dtype))
        self.V = nn.Parameter(torch.zeros(HIDDEN, 1, dtype=dtype))
        self.c = nn.Parameter(torch.zeros(1, dtype=dtype))
        self.h = torch.zeros(HIDDEN, dtype=dtype)

    def forward(self, x):
        h, states = self.h, []
        for x_t in x:
            h = torch.tanh(x_t @ self.Wx + h @ self.Wh + self.b)
            states.append(h)
        self.h = h.detach()
        return torch.stack(states) @ self.V + self.c


RNN_PARAMS = ("Wx", "Wh", "b", "V", "c")


def rnn_case(name="stateful_rnn", step=ElmanRNN.train_step, **changes):
    case = Case(
        name=name,
        scratch=Scratch(
            params={p: Link(p) for p in RNN_PARAMS},
            init=lambda rng: {
                "Wx": rng.normal(size=(INPUTS, HIDDEN)) * 0.5,
                "Wh": rng.normal(size=(HIDDEN, HIDDEN)) * 0.4,
                "b": np.zeros(HIDDEN),
                "V": rng.normal(size=(HIDDEN, 1)) * 0.5,
                "c": np.zeros(1),
            },
            build=lambda params, lr: ElmanRNN(**params),
            forward=ElmanRNN.forward,
            loss=mse,
            step=step,
            grads={p: "d" + p for p in RNN_PARAMS},
        ),
        twin=Twin(module=TwinRNN, loss=F.mse_loss),
        data=Data(
            X=SEQUENCE,
            y=TARGET,
            batches=lambda rng: [slice(CHUNK * k, CHUNK * (k + 1)) for k in range(CHUNKS)],
            learning_rate=0.05,
        ),
    )
    return vary(case, **changes) if changes else case


class CachedNet(Net):
    """The fixture's 2-3-1, its gradients from what the forward cached."""

    def forward(self, x):
        self.x = x
        return super().forward(x)

    def gradients(self, x, y):
        d_out = 2 * (self.output - y) / y.size
        self.d_h = d_out @ self.W2.T
        d_h = self.d_h * (1 - self.h**2)
        return {"W1": self.x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}


def by_methods(cls, name, steps, **changes):
    """A case of the fixture's protocol driven through ``cls``'s own methods: built from the parameters, forward,
    gradients and update by the class."""
    return make_case(
        name,
        steps=steps,
        build=lambda params, lr: cls(**params),
        forward=cls.forward,
        gradients=cls.gradients,
        update=cls.update,
        curve_steps=(),
        **changes,
    )


def cached_case(name="cached_forward", net=None, **changes):
    """``net``: a subclass of ``CachedNet`` to build instead."""
    return by_methods(net or CachedNet, name, 12, **changes)


def warm_up(t):
    return min(1.0, (t + 1) / 5)


class AnnealedNet(Net):
    """The fixture's 2-3-1, its output scaled by 1 + t / 10 and its learning rate warmed up over five steps,
    ``t`` the steps taken."""

    def __init__(self, W1, b1, W2, b2):
        super().__init__(W1, b1, W2, b2)
        self.t = 0
        self.lr_used = 0.0

    def forward(self, x):
        self.h = np.tanh(x @ self.W1 + self.b1)
        self.output = (self.h @ self.W2 + self.b2) * (1 + self.t / 10)
        return self.output

    def gradients(self, x, y):
        d_out = 2 * (self.forward(x) - y) / y.size * (1 + self.t / 10)
        self.d_h = d_out @ self.W2.T
        d_h = self.d_h * (1 - self.h**2)
        return {"W1": x.T @ d_h, "b1": d_h.sum(0), "W2": self.h.T @ d_out, "b2": d_out.sum(0)}

    def update(self, grads, lr):
        self.lr_used = lr * warm_up(self.t)
        super().update(grads, self.lr_used)
        self.t += 1


class AnnealedTwin(TwinNet):
    def __init__(self, dtype):
        super().__init__(dtype)
        self.t = 0

    def forward(self, x):
        out = super().forward(x) * (1 + self.t / 10)
        if self.training:
            self.t += 1
        return out


def annealed_case(name="annealed", net=None, **changes):
    """``net``: a subclass of ``AnnealedNet`` to build instead."""
    return by_methods(
        net or AnnealedNet,
        name,
        16,
        lr="lr_used",
        module=AnnealedTwin,
        scheduler=lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, warm_up),
        **changes,
    )
