"""Worked example: a character-level RNN as the classic 100-line NumPy script writes it, cross-checked against
an ``nn.Module`` with the same recurrence and an Adagrad of the script's own arithmetic.

One-hot characters in, a tanh hidden state carried from one sequence to the next (kept on the network
between steps), logits out; softmax cross-entropy summed over the sequence; backpropagation through the
sequence by hand; every gradient clipped to [-5, 5]; Adagrad as the script writes it,
``p -= lr * g / sqrt(mem + 1e-8)``.  torch's ``Adagrad`` adds its eps outside the square root, so the twin
trains with ``ScriptAdagrad`` below; its clip is the twin's ``Twin(clip=...)``, between backward and the update,
and the gradients compared on both sides are the clipped ones.  At these sizes (summed loss over 5 characters,
weights drawn at 0.01) no gradient reaches the bound; tests/test_twin_clip.py runs it with weights where the
clip acts.  ``HiddenResetBug`` starts every sequence from a zero state, as a step that forgets the state it
carries does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import clip_grad_value_

from crosscheck import Case, Data, Link, Scratch, Twin, register
from crosscheck.case import vary

TEXT = "hello world, low herd; "  # 10 distinct characters
CHARS = sorted(set(TEXT))
VOCAB, HIDDEN, SEQ_LENGTH, STEPS, LEARNING_RATE = len(CHARS), 10, 5, 40, 0.1
CLIP = 5.0

# Inputs one-hot, targets the index of the next character: X (n, VOCAB) float64, Y (n,) int64.
_IDS = np.array([CHARS.index(c) for c in TEXT * 10])
X, Y = np.eye(VOCAB)[_IDS[:-1]], _IDS[1:].astype(np.int64)


def summed_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-sum_t log softmax(logits_t)[target_t] over the sequence, as the script adds it up."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets].sum()


class CharRNN:
    """h_t = tanh(Wxh x_t + Whh h_(t-1) + bh), y_t = Why h_t + by; column vectors, as in the script."""

    def __init__(self, rng: np.random.RandomState) -> None:
        self.Wxh = rng.randn(HIDDEN, VOCAB) * 0.01  # input to hidden
        self.Whh = rng.randn(HIDDEN, HIDDEN) * 0.01  # hidden to hidden
        self.Why = rng.randn(VOCAB, HIDDEN) * 0.01  # hidden to output
        self.bh, self.by = np.zeros((HIDDEN, 1)), np.zeros((VOCAB, 1))
        # Adagrad's memory: the sum of every squared gradient so far
        self.mWxh, self.mWhh, self.mWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        self.mbh, self.mby = np.zeros_like(self.bh), np.zeros_like(self.by)
        self.hprev = np.zeros((HIDDEN, 1))  # carried from one sequence to the next

    def forward(self, inputs: np.ndarray) -> np.ndarray:
        """The logits of a sequence, (len, VOCAB), from the carried state (which it leaves as it is)."""
        h, logits = self.hprev, []
        for x in inputs:
            h = np.tanh(self.Wxh @ x[:, None] + self.Whh @ h + self.bh)
            logits.append((self.Why @ h + self.by)[:, 0])
        return np.array(logits)

    def loss_fun(self, inputs: np.ndarray, targets: np.ndarray, hprev: np.ndarray) -> tuple:
        """The summed loss, the clipped gradients and the last hidden state of one sequence."""
        xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
        loss = 0.0
        for t in range(len(inputs)):
            xs[t] = inputs[t][:, None]
            hs[t] = np.tanh(self.Wxh @ xs[t] + self.Whh @ hs[t - 1] + self.bh)
            ys = self.Why @ hs[t] + self.by
            ps[t] = np.exp(ys - ys.max()) / np.sum(np.exp(ys - ys.max()))  # softmax, shifted against overflow
            loss += -np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        dbh, dby = np.zeros_like(self.bh), np.zeros_like(self.by)
        dhnext = np.zeros_like(hs[0])
        for t in reversed(range(len(inputs))):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1  # softmax followed by cross-entropy: p - one_hot
            dWhy += dy @ hs[t].T
            dby += dy
            dh = self.Why.T @ dy + dhnext  # from the output and from the next time step
            dhraw = (1 - hs[t] * hs[t]) * dh  # back through the tanh
            dbh += dhraw
            dWxh += dhraw @ xs[t].T
            dWhh += dhraw @ hs[t - 1].T
            dhnext = self.Whh.T @ dhraw
        for dparam in (dWxh, dWhh, dWhy, dbh, dby):
            np.clip(dparam, -CLIP, CLIP, out=dparam)  # against exploding gradients
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, lr: float) -> np.float64:
        loss, *grads, self.hprev = self.loss_fun(inputs, targets, self.hprev)
        self.dWxh, self.dWhh, self.dWhy, self.dbh, self.dby = grads  # kept to be looked at
        for param, dparam, mem in zip(
            (self.Wxh, self.Whh, self.Why, self.bh, self.by),
            grads,
            (self.mWxh, self.mWhh, self.mWhy, self.mbh, self.mby),
            strict=True,
        ):
            mem += dparam * dparam
            param += -lr * dparam / np.sqrt(mem + 1e-8)  # Adagrad
        return loss


class HiddenResetBug(CharRNN):
    """Bug: every sequence starts from a zero hidden state (``loss_fun(inputs, targets, np.zeros(...))``),
    so nothing is carried across sequences.  Step 0 starts from zeros either way; from step 1 the loss
    differs from the twin's, which carries its state."""

    def train_step(self, inputs: np.ndarray, targets: np.ndarray, lr: float) -> np.float64:
        self.hprev = np.zeros((HIDDEN, 1))
        return super().train_step(inputs, targets, lr)


class CharRNNTwin(nn.Module):
    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.xh = nn.Linear(VOCAB, HIDDEN, dtype=dtype)  # weight Wxh, bias bh
        self.hh = nn.Linear(HIDDEN, HIDDEN, bias=False, dtype=dtype)
        self.hy = nn.Linear(HIDDEN, VOCAB, dtype=dtype)
        self.h = torch.zeros(HIDDEN, dtype=dtype)  # carried across sequences while training

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        h, states = self.h, []
        for x in inputs:
            h = torch.tanh(self.xh(x) + self.hh(h))
            states.append(h)
        if self.training:
            self.h = h.detach()  # truncated backpropagation: the next sequence starts from its value
        return self.hy(torch.stack(states))


def summed_twin_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, targets, reduction="sum")


class ScriptAdagrad(torch.optim.Optimizer):
    """The script's Adagrad: sum += g * g; p -= lr * g / sqrt(sum + 1e-8).  Not torch's ``Adagrad``, whose eps is
    outside the square root (/ (sqrt(sum) + eps)): a twin of another arithmetic, which no option of torch's gives."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float) -> None:
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]  # no closure: one loss a step
        for group in self.param_groups:
            for p in group["params"]:
                g, state = p.grad, self.state[p]
                if not state:
                    state["sum"] = torch.zeros_like(p)  # torch's name for Adagrad's memory
                state["sum"].addcmul_(g, g)
                p.sub_(group["lr"] * g / torch.sqrt(state["sum"] + 1e-8))


def sequences(rng: np.random.RandomState | np.random.Generator) -> list[slice]:
    """Consecutive sequences, in order, as the script walks its text (the state runs on across them)."""
    return [slice(k * SEQ_LENGTH, (k + 1) * SEQ_LENGTH) for k in range(STEPS)]


def bugged_case() -> Case:
    """The case with ``HiddenResetBug``: the gate must fail at step 1, on the loss."""
    return vary(NET, network=HiddenResetBug, name=NET.name + "_bug")


# --- the registration: everything below is what a user writes --------------------------------
# nn.Linear stores W as (out, in), as the script does; the script's biases are (n, 1) columns.
PARAMS = {"Wxh": Link("xh.weight"), "Whh": Link("hh.weight"), "Why": Link("hy.weight")}
PARAMS |= {b: Link(t, (slice(None), None)) for b, t in [("bh", "xh.bias"), ("by", "hy.bias")]}  # type: ignore[arg-type]
GRADS, MEMORY = {p: "d" + p for p in PARAMS}, {p: "m" + p for p in PARAMS}  # dWxh, mWxh, ...
NET = register(
    Case(
        name="char_rnn",
        description=f"character RNN ({VOCAB} characters, {HIDDEN} hidden), hidden state carried, clipped Adagrad",
        scratch=Scratch(
            PARAMS, summed_cross_entropy, network=CharRNN, step="train_step", grads=GRADS, state={"sum": MEMORY}
        ),
        twin=Twin(CharRNNTwin, summed_twin_loss, ScriptAdagrad, clip=lambda m: clip_grad_value_(m.parameters(), CLIP)),
        data=Data(X, Y, sequences, LEARNING_RATE, curve_steps=range(0, STEPS, 5)),
    )
)
