"""``results.json``: every check of every network with its exact figures, where its first divergence
grows, the findings with their numbers, and the environment; strict JSON (``jsonfile``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crosscheck import jsonfile
from crosscheck.compare import Comparison
from crosscheck.diagnose.chain import where_it_grows
from crosscheck.findings import Section
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
)


def check_record(c: Comparison) -> dict[str, Any]:
    full = c.as_dict()
    return {k: full[k] for k in RECORD_FIELDS}


def results(
    networks: Sequence[NetworkReport], sections: Sequence[Section], env: Mapping[str, Any], made: Mapping[str, str]
) -> dict[str, Any]:
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
                    "checks": [check_record(c) for c in net.comparisons],
                    "divergence_stage": where_it_grows(net),
                }
                for net in networks
            ],
            "findings": [{"section": s.title, "findings": [f.as_dict() for f in s.findings]} for s in sections],
        }
    )


def results_text(
    networks: Sequence[NetworkReport], sections: Sequence[Section], env: Mapping[str, Any], made: Mapping[str, str]
) -> str:
    return jsonfile.dumps(results(networks, sections, env, made))
