"""``python -m crosscheck.report``: the comparison reports in ``reports/``.

- ``summary.md``: the verdicts, first divergences and the findings sections the project registered.
- ``results.json``: every check of every registered network with its exact figures, the findings
  with their numbers, and the environment.
- ``float32.json``: the float32 battery and the drift from float64 (``crosscheck.precision``).
- ``index.html``: one self-contained page with the plots embedded as base64 PNG.
- ``plots/<network>-{checks,curves,differences}.png``.

Every file states the commit it was made from and when (``environment.provenance``).  None is
committed: the figures carry the last bits of this machine's vector unit and BLAS.  All files are
written whether the checks pass or fail; the command then exits 1 when any check failed.

The package, by output: ``results`` (results.json), ``markdown`` (summary.md), ``html`` (index.html),
``plots`` (the PNGs, matplotlib imported only when they are drawn), ``text`` (phrases they share),
``write`` (every file into the folder) and ``cli`` (the command).  It renders verdicts
(``crosscheck.verdict``) and their diagnosis (``crosscheck.diagnose``); nothing below imports it.
"""

from crosscheck.report.markdown import summary_markdown, write_summary
from crosscheck.report.text import declared
from crosscheck.report.write import failing_blocks, write_reports
from crosscheck.verdict import collect_all

__all__ = ["collect_all", "declared", "failing_blocks", "summary_markdown", "write_reports", "write_summary"]
