"""The harness's own error for a case it cannot check; kept apart so that reading a project's settings
(the pytest plugin does it in every run) does not import torch."""


class RegistrationError(ValueError):
    """A case that cannot be cross-checked as written; the message says what to fix."""


class StepError(AssertionError):
    """Something at one step of a run that the harness cannot compare: the message names the case, the
    step, the side and the function, and says what to do."""
