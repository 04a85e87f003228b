"""What the cross-check found in the tutorials: each quirk of the seeds, shown with numbers.

Every finding runs the seed's own code path (``scratch.quirks``) beside the clean scratch
code and the PyTorch twin, at report time, and returns a ``crosscheck.findings.Finding``: a few sentences with the
numbers in them, and the numbers themselves, which ``tests/test_findings.py`` asserts.
Numbers in the text are printed to 8 significant digits or fewer, so that ``summary.md``
does not depend on the last bit of one machine's ``exp``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from crosscheck.findings import Finding
from crosscheck.report.text import below
from crosscheck.run.memo import traces
from crosscheck.run.start import start
from reference import network_3_4_1 as ref341
from reference import sigmoid_neuron as ref_neuron
from scratch import network_2_2_1 as s221
from scratch import network_3_4_1 as s341
from scratch import quirks
from scratch import sigmoid_neuron as s_neuron
from tutorials.networks import NETWORK_3_4_1

SEED_FILES = {
    "000": "000_2616098b250bcf87.txt",
    "001": "001_ec51d214da5c9652.txt",
    "002": "002_f715edb0a59ccac6.txt",
    "003": "003_6dcbda6586028187.txt",
    "004": "004_dd19dcd3624d9b51.txt",
}


def quirk(
    id: str,
    seeds: tuple[str, ...],
    title: str,
    finding: str,
    numbers: dict[str, Any] | None = None,
    table: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None = None,
) -> Finding:
    """A finding about the seeds named by their number ("000"), shown with their file names."""
    return Finding(id, tuple(SEED_FILES[s] for s in seeds), title, finding, numbers or {}, table)


def g(x: Any, digits: int = 8) -> str:
    """A number for the text: ``digits`` significant digits, no trailing noise."""
    return f"{float(x):.{digits}g}"


def vec(xs: Any, digits: int = 6) -> str:
    return "[" + ", ".join(g(x, digits) for x in np.ravel(xs)) + "]"


@contextmanager
def _global_rng_untouched() -> Iterator[None]:
    """The seeds' constructors draw from the global ``np.random``; leave it as it was."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


def _twin_neuron_step(input_vector: Any, weights: Any, bias: float, target: float) -> dict[str, Any]:
    """Prediction, squared error and autograd gradients of the twin neuron, as NumPy floats."""
    neuron = ref_neuron.SigmoidNeuron(torch.float64)
    with torch.no_grad():
        neuron.linear.weight.copy_(torch.tensor(np.asarray(weights, dtype=np.float64).reshape(1, 2)))
        neuron.linear.bias.fill_(bias)
    prediction = neuron(torch.tensor(np.asarray(input_vector, dtype=np.float64)))
    error = ref_neuron.squared_error(prediction, torch.tensor(float(target), dtype=torch.float64))
    error.backward()
    assert neuron.linear.weight.grad is not None and neuron.linear.bias.grad is not None
    return {
        "prediction": prediction.item(),
        "error": error.item(),
        "dweights": neuron.linear.weight.grad.numpy()[0].copy(),
        "dbias": neuron.linear.bias.grad.item(),
    }


def _scratch_neuron_gradients(input_vector: Any, weights: Any, bias: float, target: float) -> tuple[Any, Any]:
    """(dE/dbias, dE/dweights) of the clean scratch neuron."""
    net = s_neuron.NeuralNetwork(s_neuron.LEARNING_RATE, weights=np.array(weights, float), bias=np.array(bias))
    return net._compute_gradients(np.array(input_vector, float), np.array(float(target)))


# --- seed 000 ---------------------------------------------------------------------------------

SEED_000_INPUT, SEED_000_WEIGHTS = [2.0, 1.5], [1.45, -0.66]


def seed_000_update() -> Finding:
    """``w - d if d >= 0 else w + d`` is ``w - |d|``: it lowers every weight whatever the target."""
    x, w, bias = np.array(SEED_000_INPUT), np.array(SEED_000_WEIGHTS), np.array([0.0])
    numbers: dict[str, Any] = {}
    for label, target in (("target_0", 0.0), ("target_1", 1.0)):
        prediction = quirks.make_prediction(x, w, bias)
        error = float(np.square(prediction - target)[0])
        d = 2 * (prediction - target)  # the tutorial's derivative: w.r.t. the prediction
        seed_w = quirks.seed_000_update(w, d)
        seed_error = float(np.square(quirks.make_prediction(x, seed_w, bias) - target)[0])
        dbias, dweights = _scratch_neuron_gradients(x, w, 0.0, target)
        twin = _twin_neuron_step(x, w, 0.0, target)
        grad_w = w - dweights  # one gradient step, learning rate 1 as the tutorial's update
        grad_error = float(np.square(quirks.make_prediction(x, grad_w, bias) - target)[0])
        numbers[label] = {
            "target": target,
            "prediction": float(prediction[0]),
            "error": error,
            "derivative_wrt_prediction": float(d[0]),
            "seed_rule_weights": seed_w.tolist(),
            "seed_rule_error": seed_error,
            "scratch_gradient_weights": dweights.tolist(),
            "twin_gradient_weights": twin["dweights"].tolist(),
            "gradient_step_weights": grad_w.tolist(),
            "gradient_step_error": grad_error,
        }
    t0, t1 = numbers["target_0"], numbers["target_1"]
    finding = (
        f"The update `weights_1 - d if d >= 0 else weights_1 + d` takes d = `2 * (prediction - target)`, the "
        f"derivative with respect to the prediction, not the weights, and subtracts it from every weight when "
        f"it is positive and adds it when it is negative: that is `weights_1 - abs(d)`, which lowers both "
        f"weights whatever the target. With input {vec(x)} and weights {vec(w)} the prediction is "
        f"{g(t0['prediction'])}. For the tutorial's target 0 the rule happens to help (error "
        f"{g(t0['error'])} → {g(t0['seed_rule_error'])}). For target 1, above the prediction, d = "
        f"{g(t1['derivative_wrt_prediction'])} and the rule moves the weights to {vec(t1['seed_rule_weights'])}: "
        f"the error rises from {g(t1['error'])} to {g(t1['seed_rule_error'])}. The gradient with respect to "
        f"the weights (scratch {vec(t1['scratch_gradient_weights'])}, twin autograd "
        f"{vec(t1['twin_gradient_weights'])}) points the other way; one step of it lowers the error to "
        f"{g(t1['gradient_step_error'])}."
    )
    table = (
        ("target", "prediction", "error", "d", "seed rule: error after", "gradient step: error after"),
        tuple(
            (g(t["target"]), g(t["prediction"]), g(t["error"]), g(t["derivative_wrt_prediction"]))
            + (g(t["seed_rule_error"]), g(t["gradient_step_error"]))
            for t in (t0, t1)
        ),
    )
    title = "Seed 000's update rule is not a gradient step"
    return quirk("seed_000_update_rule", ("000",), title, finding, numbers, table)


# --- seed 001 ---------------------------------------------------------------------------------


def seed_001_printed_values() -> Finding:
    """Two printed values the seed's own code cannot print."""
    lines = quirks.seed_001_printed_lines()  # what the seed's cells print when run
    dot = np.dot([1.72, 1.23], [2.17, 0.32])
    twin_dot = torch.dot(
        torch.tensor([1.72, 1.23], dtype=torch.float64), torch.tensor([2.17, 0.32], dtype=torch.float64)
    )
    prediction = quirks.make_prediction(np.array([2, 1.5]), np.array([1.45, -0.66]), np.array([0.0]))
    mse = np.square(prediction - 0)
    twin = _twin_neuron_step([2.0, 1.5], [1.45, -0.66], 0.0, 0.0)
    printed_prediction = f"{prediction}"  # '[0.87101915]', as the seed prints it
    from_printed = float(printed_prediction.strip("[]")) ** 2
    numbers = {
        "dot_line_printed": "The dot product is: 4.1259",
        "dot_line_from_code": lines["dot"],
        "error_line_printed": "Prediction: [0.87101915]; Error: [0.7586743596667225]",
        "error_line_from_code": lines["error"],
        "dot_printed": "4.1259",
        "dot_fstring": f"{dot}",
        "dot_twin": repr(twin_dot.item()),
        "dot_rounded_4": f"{dot:.4f}",
        "error_printed": "[0.7586743596667225]",
        "error_fstring": f"{mse}",
        "error_float_repr": repr(float(mse[0])),
        "error_twin_repr": repr(twin["error"]),
        "prediction_printed": printed_prediction,
        "square_of_printed_prediction": repr(from_printed),
    }
    finding = (
        f"Seed 001 shows `{numbers['dot_line_printed']}`, but its cell prints `{numbers['dot_line_from_code']}` "
        f"(the twin's `torch.dot`: {numbers['dot_twin']}); rounding to four "
        f"decimals would give {numbers['dot_rounded_4']}, so the shown text was cut by hand. It shows "
        f"`{numbers['error_line_printed']}`, but an f-string of the one-element NumPy array prints "
        f"`{numbers['error_line_from_code']}`, and the error the code computes is {g(mse[0], 10)} "
        f"(twin: {g(twin['error'], 10)}): the printed digits part from it at the ninth. They are "
        f"`{printed_prediction.strip('[]')}**2` = {numbers['square_of_printed_prediction']}, the square of the "
        f"prediction as printed to 8 digits, not of the prediction the code holds."
    )
    return quirk(
        "seed_001_printed_values", ("001",), "Seed 001 prints values its own code cannot produce", finding, numbers
    )


# --- seed 002 ---------------------------------------------------------------------------------


def seed_002_bias_comment() -> Finding:
    """``bias = 4  # b = 0``: the printed output follows the code."""
    x = np.array([2, 3])
    scratch_4 = float(s221.Neuron(np.array([0, 1]), 4).feedforward(x))
    scratch_0 = float(s221.Neuron(np.array([0, 1]), 0).feedforward(x))
    linear = torch.nn.Linear(2, 1, dtype=torch.float64)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.0, 1.0]]))
        linear.bias.fill_(4.0)
        twin_4 = torch.sigmoid(linear(torch.tensor([2.0, 3.0], dtype=torch.float64))).item()
    numbers = {"printed": "0.9990889488055994", "scratch_bias_4": scratch_4, "twin_bias_4": twin_4, "bias_0": scratch_0}
    finding = (
        f"Seed 002 writes `bias = 4  # b = 0`. Weights [0, 1] on input [2, 3] give `sigmoid(3 + b)`: "
        f"{g(scratch_4, 16)} with b = 4 (twin {g(twin_4, 16)}), the printed {numbers['printed']}; "
        f"b = 0 would print {g(scratch_0, 16)}. The code is right and the comment is wrong."
    )
    return quirk("seed_002_bias_comment", ("002",), "Seed 002's comment contradicts its bias", finding, numbers)


# --- seed 003 ---------------------------------------------------------------------------------

SEED_003_INPUT, SEED_003_WEIGHTS = [1.54, 1.32], [1.56, -0.45]


def seed_003_gradients() -> Finding:
    """``compute_gradients`` returns None, and the printed bias gradient is taken after the update."""
    with _global_rng_untouched():
        net = quirks.Seed003NeuralNetwork(0.1)
    net.weights, net.bias = np.array(SEED_003_WEIGHTS), 0.0
    returned = net.compute_gradients(np.array(SEED_003_INPUT), 0)  # type: ignore[func-returns-value]
    try:
        net.update_params(*returned)  # type: ignore[misc]  # the tutorial's next line, as it would be written
        error = "no error"
    except TypeError as exc:
        error = f"TypeError: {exc}"
    cells = quirks.seed_003_cells(np.array(SEED_003_INPUT), np.array(SEED_003_WEIGHTS), np.array([0.0]))
    step = s_neuron.worked_step(SEED_003_INPUT, SEED_003_WEIGHTS, [0.0], 0)  # the clean scratch code
    dbias_before, _ = _scratch_neuron_gradients(SEED_003_INPUT, SEED_003_WEIGHTS, 0.0, 0.0)
    twin_before = _twin_neuron_step(SEED_003_INPUT, SEED_003_WEIGHTS, 0.0, 0.0)
    after = step["new_weights"]
    twin_after = _twin_neuron_step(SEED_003_INPUT, after.tolist(), 0.0, 0.0)
    numbers = {
        "returned": repr(returned),
        "unpacking_error": error,
        "printed_bias_gradient": "[0.00351628]",
        "seed_cells_bias_gradient": str(cells["d_error_wrt_bias"]),
        "scratch_bias_gradient_after_update": str(np.atleast_1d(step["derror_dbias"])),
        "twin_bias_gradient_after_update": twin_after["dbias"],
        "weights_after_update": after.tolist(),
        "scratch_bias_gradient_before_update": float(dbias_before),
        "twin_bias_gradient_before_update": twin_before["dbias"],
    }
    finding = (
        f"`NeuralNetwork.compute_gradients` computes both gradients and returns {numbers['returned']}, so "
        f"`update_params(*net.compute_gradients(...))` fails with a {error.split(':')[0]}. "
        f"The bias gradient the seed prints, "
        f"{numbers['printed_bias_gradient']}, is taken at the weights after `weights = weights - derivative` "
        f"({vec(after)}; the seed's cells give {numbers['seed_cells_bias_gradient']}, the clean scratch "
        f"{numbers['scratch_bias_gradient_after_update']}, twin "
        f"{g(twin_after['dbias'], 6)}). At the weights that made the prediction, {vec(SEED_003_WEIGHTS)}, "
        f"it is {g(dbias_before)} (twin {g(twin_before['dbias'])})."
    )
    return quirk("seed_003_gradients", ("003",), "Seed 003's gradients are never returned", finding, numbers)


# --- seed 004 ---------------------------------------------------------------------------------


def seed_004_update() -> Finding:
    """``+=`` of 2(y - output) terms is SGD with lr 1 on the summed loss; the derivative wants activations."""
    params, _ = start(NETWORK_3_4_1)
    X, Y = NETWORK_3_4_1.data.X, NETWORK_3_4_1.data.y
    with _global_rng_untouched():
        seed = quirks.Seed004NeuralNetwork(X, Y)
    seed.weights1, seed.weights2 = params["weights1"].copy(), params["weights2"].copy()
    seed.feedforward()
    z1, z2 = X @ params["weights1"], seed.layer1 @ params["weights2"]
    seed.backprop()
    after_one = (seed.weights1.copy(), seed.weights2.copy())
    for _ in range(s341.ITERATIONS - 1):
        seed.feedforward()
        seed.backprop()
    _, twin = traces(NETWORK_3_4_1)

    def largest(a: Any, b: Any) -> float:
        return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))

    one_step = max(largest(after_one[0], twin["param.weights1"][0]), largest(after_one[1], twin["param.weights2"][0]))
    full_run = max(
        largest(seed.weights1, twin["param.weights1"][-1]), largest(seed.weights2, twin["param.weights2"][-1])
    )

    # The same step on the mean of the squared errors: autograd's gradient of the mean over 4 samples.
    module = ref341.Network341()
    with torch.no_grad():
        module.layer1.weight.copy_(torch.from_numpy(params["weights1"].T))
        module.layer2.weight.copy_(torch.from_numpy(params["weights2"].T))
    torch.nn.functional.mse_loss(module(torch.tensor(X)), torch.tensor(Y)).backward()
    assert module.layer2.weight.grad is not None
    mean_ratio = float(np.max(np.abs(twin["grad.weights2"][0] / module.layer2.weight.grad.numpy().T)))

    def autograd_sigmoid_derivative(z: Any) -> Any:
        zt = torch.tensor(z, requires_grad=True)
        torch.sigmoid(zt).sum().backward()
        assert zt.grad is not None
        return zt.grad.numpy()

    dz1, dz2 = autograd_sigmoid_derivative(z1), autograd_sigmoid_derivative(z2)
    with_activations = max(
        largest(quirks.sigmoid_derivative_004(quirks.sigmoid(z1)), dz1),
        largest(quirks.sigmoid_derivative_004(quirks.sigmoid(z2)), dz2),
    )
    with_preactivations = max(
        largest(quirks.sigmoid_derivative_004(z1), dz1), largest(quirks.sigmoid_derivative_004(z2), dz2)
    )
    numbers = {
        "one_step_max_abs_vs_twin_sgd_lr1": one_step,
        "full_run_steps": s341.ITERATIONS,
        "full_run_max_abs_vs_twin_sgd_lr1": full_run,
        "sum_over_mean_gradient_ratio": mean_ratio,
        "derivative_of_activation_max_abs_vs_autograd": with_activations,
        "derivative_of_preactivation_max_abs_vs_autograd": with_preactivations,
    }
    finding = (
        f"`backprop()` builds `d_weights` from `2*(self.y - self.output)`, the negative gradient of the summed "
        f"squared error, "
        f"and adds it: one gradient-descent step with learning rate 1. Run from the same weights, the seed's "
        f"code and the twin's `torch.optim.SGD(lr=1)` on the summed loss differ by {below(one_step)} "
        f"after one step and {below(full_run)} after all {s341.ITERATIONS}. The loss is the sum over the "
        f"4 samples, not the mean: the mean's gradient is {g(mean_ratio, 6)} times smaller. "
        f"`sigmoid_derivative(x)` = `x * (1.0 - x)` is the sigmoid's derivative only when x is already the sigmoid's "
        f"output: the seed passes activations, and the result differs from autograd's by "
        f"{below(with_activations)}; "
        f"passed the pre-activations it would be off by up to {g(with_preactivations, 6)}."
    )
    title = "Seed 004's += is gradient descent with learning rate 1"
    return quirk("seed_004_update", ("004",), title, finding, numbers)


# --- the sigmoid's limits -----------------------------------------------------------------------

TORCH_OF = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}


def first_true(predicate: Callable[[Any], bool], lo: float, hi: float, dtype: Any) -> Any:
    """The smallest number of ``dtype`` in (lo, hi] where a monotone ``predicate`` holds."""
    a, b = dtype(lo), dtype(hi)
    if predicate(a) or not predicate(b):
        raise ValueError(f"predicate must be false at {lo} and true at {hi}")
    while np.nextafter(a, b) != b:
        mid = dtype((float(a) + float(b)) / 2)
        if mid in (a, b):
            mid = np.nextafter(a, b)
        a, b = (a, mid) if predicate(mid) else (mid, b)
    return b


def scratch_sigmoid(x: Any) -> Any:
    """The scratch networks' 1/(1+np.exp(-x)), silent: the overflow is reported, not warned."""
    with np.errstate(over="ignore"):
        return s_neuron.sigmoid(x)


def overflows(x: Any) -> bool:
    """Whether ``1/(1+np.exp(-x))`` overflows (a RuntimeWarning under NumPy's default error state)."""
    try:
        with np.errstate(over="raise"):
            s_neuron.sigmoid(x)
    except FloatingPointError:
        return True
    return False


def torch_value_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], x: Any) -> tuple[float, float]:
    xt = torch.tensor(float(x), dtype=TORCH_OF[np.dtype(type(x))], requires_grad=True)
    y = fn(xt)
    y.backward()
    assert xt.grad is not None
    return y.item(), xt.grad.item()


def torch_sigmoid_is_one(x: Any) -> bool:
    return torch.sigmoid(torch.tensor(float(x), dtype=TORCH_OF[np.dtype(type(x))])).item() == 1.0


def torch_formula(x: torch.Tensor) -> torch.Tensor:
    """The scratch formula written in torch: autograd differentiates 1/u and exp separately."""
    return 1 / (1 + torch.exp(-x))


def sigmoid_limits() -> Finding:
    """Where 1/(1+exp(-x)) overflows and where it saturates, in float64 and float32, beside torch."""
    numbers: dict[str, Any] = {}
    rows = []
    for dtype in (np.float64, np.float32):
        name = np.dtype(dtype).name
        # exp(-x) overflows for x at or below -t; the sigmoid there is 0 from 1/(1 + inf).
        t = first_true(lambda y: overflows(-y), 1.0, 1000.0, dtype)
        x_over = -t
        sat = first_true(lambda x: scratch_sigmoid(x) == 1.0, 1.0, 100.0, dtype)
        sat_torch = first_true(torch_sigmoid_is_one, 1.0, 100.0, dtype)
        s_over, g_over = torch_value_and_grad(torch.sigmoid, x_over)
        f_over, fg_over = torch_value_and_grad(torch_formula, x_over)
        s_sat, g_sat = torch_value_and_grad(torch.sigmoid, sat)
        f_sat, fg_sat = torch_value_and_grad(torch_formula, sat)
        numbers[name] = {
            "overflow_below": float(x_over),
            "overflows_at_threshold": overflows(x_over),
            "overflows_one_step_above": overflows(np.nextafter(x_over, dtype(0))),
            "scratch_value_at_overflow": float(scratch_sigmoid(x_over)),
            "torch_sigmoid_at_overflow": s_over,
            "torch_sigmoid_grad_at_overflow": g_over,
            "torch_formula_at_overflow": f_over,
            "torch_formula_grad_at_overflow": fg_over,
            "scratch_saturates_from": float(sat),
            "torch_sigmoid_saturates_from": float(sat_torch),
            "scratch_derivative_at_saturation": float(s_neuron.sigmoid_deriv(sat)),
            "torch_sigmoid_grad_at_saturation": g_sat,
            "torch_formula_at_saturation": f_sat,
            "torch_formula_grad_at_saturation": fg_sat,
        }
        n = numbers[name]
        rows.append(
            (name, f"x ≤ {g(x_over, 7)}", g(n["scratch_value_at_overflow"]), f"{g(s_over)} / {g(g_over)}")
            + (f"{g(f_over)} / {g(fg_over)}", f"x ≥ {g(sat, 7)}", f"x ≥ {g(sat_torch, 7)}")
            + (g(n["scratch_derivative_at_saturation"]), g(g_sat), g(fg_sat, 3))
        )
    columns = (
        "dtype",
        "np.exp(-x) overflows",
        "scratch value there",
        "torch.sigmoid value / gradient there",
        "torch formula value / gradient there",
        "scratch sigmoid == 1.0",
        "torch.sigmoid == 1.0",
        "s * (1 - s) there",
        "torch.sigmoid gradient there",
        "torch formula gradient there",
    )
    f64, f32 = numbers["float64"], numbers["float32"]
    finding = (
        f"The scratch `1/(1+np.exp(-x))` overflows in `np.exp` for x ≤ {g(f64['overflow_below'], 7)} in float64 "
        f"and x ≤ {g(f32['overflow_below'], 7)} in float32 (`RuntimeWarning: overflow encountered in exp`), yet "
        f"returns {g(f64['scratch_value_at_overflow'])} there, as `torch.sigmoid` does; the same formula written "
        f"in torch, `1/(1+torch.exp(-x))`, gives gradient {g(f64['torch_formula_grad_at_overflow'])} there. It "
        f"is exactly 1.0 from x = {g(f64['scratch_saturates_from'], 7)} in float64 and "
        f"{g(f32['scratch_saturates_from'], 7)} in float32 (`torch.sigmoid` from "
        f"{g(f64['torch_sigmoid_saturates_from'], 7)} and {g(f32['torch_sigmoid_saturates_from'], 7)}); from "
        f"there the derivative `s * (1 - s)` of the scratch code and `torch.sigmoid`'s gradient are exactly 0, "
        f"while the true derivative, about e^-x, is {g(f64['torch_formula_grad_at_saturation'], 3)} and "
        f"{g(f32['torch_formula_grad_at_saturation'], 3)}, which the torch formula's autograd still gives."
    )
    title = "Where the scratch sigmoid overflows and where it saturates"
    seeds = ("000", "001", "002", "003", "004")
    return quirk("sigmoid_limits", seeds, title, finding, numbers, (columns, tuple(rows)))


FINDINGS: tuple[Callable[[], Finding], ...] = (
    seed_000_update,
    seed_001_printed_values,
    seed_002_bias_comment,
    seed_003_gradients,
    seed_004_update,
    sigmoid_limits,
)


def findings() -> list[Finding]:
    """Every quirk, computed now."""
    return [f() for f in FINDINGS]


__all__ = ["FINDINGS", "findings", "first_true", "quirk"]
