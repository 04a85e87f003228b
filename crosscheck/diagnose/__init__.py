"""The diagnosis of a failing case: what the reports, the pytest summary and the command line print.

- ``chain``: where in the chain of the first divergent step the difference first grows;
- ``layers``: the first named layer, forward or backward, where the sides part;
- ``repro``: the one-step repro script and its replay;
- ``block``: one answer per case (``diagnose(case)`` and its ``Diagnosis.block()``).

It reads verdicts (``crosscheck.verdict``) and imports nothing of the reports.
"""

from crosscheck.diagnose.block import Diagnosis, diagnose, layer_text

__all__ = ["Diagnosis", "diagnose", "layer_text"]
