"""``results.json``: every check of every network with its exact figures, where its first divergence
grows, the findings with their numbers, and the environment; strict JSON (``jsonfile``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crosscheck import jsonfile
from crosscheck.compare import Comparison
from crosscheck.diagnose.chain import where_it_grows
from crosscheck.findings import Section
from crosscheck.report.text import Declared, outcome
from crosscheck.verdict import NetworkReport

# A check's fields in results.json, in this order: ``Comparison.as_dict`` less the network, which is the
# record's parent.
RECORD_FIELDS = (
    "check",
    "quantity",
    "steps",
    "max_abs",
    "max_rel",
    "atol",
    "rtol",
    "passed",
    "problem",
    "first_divergence",
    "note",
)


def check_record(c: Comparison, notes: Declared | None = None) -> dict[str, Any]:
    """The check's figures; ``outcome`` as every report counts it ("passed", "failed", "expected failure",
    "unexpected pass") and ``expected_failure``, the reason the case gives, or None."""
    full = c.as_dict()
    record = {k: full[k] for k in RECORD_FIELDS}
    record["outcome"] = outcome(c, notes)
    record["expected_failure"] = notes.expected.get(c.check) if notes is not None else None
    return record


def _tolerance(notes: Declared | None) -> dict[str, Any] | None:
    """The case's own float64 bound and its reason; None under the fixed bound."""
    if notes is None or notes.tolerance is None:
        return None
    atol, rtol, reason = notes.tolerance
    return {"atol": atol, "rtol": rtol, "reason": reason}


def results(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    env: Mapping[str, Any],
    made: Mapping[str, str],
    declared: Mapping[str, Declared] | None = None,
) -> dict[str, Any]:
    declared = declared or {}
    return jsonfile.strict(
        {
            "provenance": dict(made),
            "environment": dict(env),
            "networks": [
                {
                    "name": net.name,
                    "source": net.source,
                    "description": net.description,
                    "passed": net.passed,
                    "own_tolerance": _tolerance(declared.get(net.name)),
                    "checks": [check_record(c, declared.get(net.name)) for c in net.comparisons],
                    "divergence_stage": where_it_grows(net),
                    "not_run": dict(net.not_run),
                    "not_compared": list(net.not_compared),
                }
                for net in networks
            ],
            "findings": [{"section": s.title, "findings": [f.as_dict() for f in s.findings]} for s in sections],
        }
    )


def results_text(
    networks: Sequence[NetworkReport],
    sections: Sequence[Section],
    env: Mapping[str, Any],
    made: Mapping[str, str],
    declared: Mapping[str, Declared] | None = None,
) -> str:
    return jsonfile.dumps(results(networks, sections, env, made, declared))
