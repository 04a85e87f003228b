"""The harness's own error for a case it cannot check; kept apart so that reading a project's settings
(the pytest plugin does it in every run) does not import torch."""


class RegistrationError(ValueError):
    """A case that cannot be cross-checked as written; the message says what to fix."""


class StepError(AssertionError):
    """Something at one step of a run that the harness cannot compare: the message names the case, the
    step, the side and the function, and says what to do."""


def writes_into_input(where: str) -> str:
    """The message for a scratch network that writes into the batch it is given."""
    return (
        f"{where} writes into its input: the harness hands X and y over read-only, so that both sides and "
        f"every later step see the same data; compute on a copy (x = x - x.mean(0), not x -= x.mean(0))"
    )
