"""The comparison reports: results.json has its shape and is strict JSON, every report says what it was
made from, reports are written when checks fail, the page
is self-contained and escapes what it prints, and a divergence is placed in the chain.

Everything is built in-process from the cached traces; nothing shells out to nox.
"""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from fixture_net import make_case

from crosscheck import verdict
from crosscheck.checks import CHECKS, battery, run_check
from crosscheck.diagnose import chain
from crosscheck.environment import environment
from crosscheck.findings import Finding, Section, sections
from crosscheck.lockstep import run_of
from crosscheck.registration import registry
from crosscheck.report import cli, html, markdown, results, write
from crosscheck.run.memo import traces
from tools import screenshot as shot

# The harness's own network: a bug in a tutorial network fails that network's checks, not these tests.
FIXTURE = make_case(name="fixture_report", steps=40)
STEP = 20
MADE = {"commit": "abc1234-dirty", "generated_at": "2026-12-02T12:00:00Z"}
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def networks():
    return verdict.collect_all()


@pytest.fixture(scope="module")
def quirks(networks):
    return sections()  # the tutorial section, registered by tutorials/networks.py when the registry loads it


def test_results_json_has_every_network_and_check(networks, quirks):
    data = json.loads(results.results_text(networks, quirks, environment(), MADE))
    assert set(data) >= {"environment", "networks", "findings"}
    assert [n["name"] for n in data["networks"]] == list(registry())
    for net in data["networks"]:
        assert set(net) >= {"name", "source", "checks"}
        assert [c["check"] for c in net["checks"]] == battery(registry()[net["name"]])
        for c in net["checks"]:
            assert set(c) >= {
                "check",
                "quantity",
                "steps",
                "max_abs",
                "max_rel",
                "atol",
                "rtol",
                "passed",
                "first_divergence",
            }
            assert isinstance(c["steps"], int) and isinstance(c["passed"], bool)
            for key in ("max_abs", "max_rel", "atol", "rtol"):
                assert isinstance(c[key], float | int), (net["name"], c["check"], key)
            d = c["first_divergence"]
            assert d is None or set(d) >= {"step", "quantity", "parameter", "index", "scratch", "reference"}
    assert [s["section"] for s in data["findings"]] == ["What the cross-check found in the tutorials"]
    from tutorials.findings import findings as tutorial_findings

    assert [f["id"] for f in data["findings"][0]["findings"]] == [f.id for f in tutorial_findings()]
    env = data["environment"]
    assert set(env) >= {"python", "numpy", "torch", "platform", "numpy_blas", "numpy_blas_threads", "torch_threads"}
    assert env["torch_threads"] >= 1


def test_results_json_agrees_with_the_checks():
    # The report shows the battery's own figures, not a recomputation.
    case = FIXTURE
    net = verdict.collect(case)
    for c in net.comparisons:
        assert results.check_record(c) == results.check_record(run_check(case, c.check))
    training = next(c for c in net.comparisons if c.check == "training_run")
    per_step = chain.per_step(net)
    scratch, twin = traces(case)  # every value, recorded anew
    assert max(float(v["abs"].max()) for v in per_step.values()) <= training.max_abs
    assert float(per_step["grad"]["abs"].max()) == pytest.approx(
        max(float(np.abs(scratch[k] - twin[k]).max()) for k in scratch if k.startswith("grad.")),
        rel=0,
        abs=0,
    )


# A second report run is compared over one network of each kind of output, not over all: a tutorial network
# (a seed file; forward output, dL/doutput and the curve among its quantities), an example with an
# optimizer's state and a scheduled learning rate (and no seed file), one with buffers, and a failing
# network (a first divergence and the stage it grows at). What a run computes for a network is the same
# for each of a kind (the checks on its cached traces, the finite-difference oracle, the rendering), so
# the other registered networks would repeat it; the first run is the module's ``networks``.
KINDS = ("network_3_4_1", "adam_schedule", "batchnorm_net")


def test_two_report_runs_are_byte_identical(networks, quirks):
    cases = registry()
    first = [net for net in networks if net.name in KINDS] + [_diverging("grad.W1", STEP)]
    second = verdict.collect_all([case for name, case in cases.items() if name in KINDS])
    second.append(_diverging("grad.W1", STEP))
    quantities = {q for net in first for c in net.comparisons for q in c.quantity.split(", ")}
    assert {"dL/doutput", "optimizer state", "learning rate", "buffer", "recorded loss curve"} <= quantities
    assert {net.source is None for net in first} == {True, False}
    assert [net.passed for net in first] == [True] * len(KINDS) + [False]
    again = sections()
    assert markdown.summary_markdown(first, quirks, MADE) == markdown.summary_markdown(second, again, MADE)
    assert results.results_text(first, quirks, environment(), MADE) == results.results_text(
        second, again, environment(), MADE
    )


def _diverging(stage_key: str, step: int, name: str = HOSTILE) -> verdict.NetworkReport:
    """The 3-4-1's run with its twin trace changed at one quantity of one step, under a hostile name."""
    scratch, twin = traces(FIXTURE)
    twin = {k: v.copy() for k, v in twin.items()}
    twin[stage_key][step] += 1e-6
    comparisons = tuple(
        dataclasses.replace(run_check(FIXTURE, check, (scratch, twin)), network=name) for check in CHECKS
    )
    return verdict.NetworkReport(
        name=name,
        source="<img src=x onerror=alert(1)>.txt",
        description="a <b>fake</b> & hostile network",
        comparisons=comparisons,
        run=run_of(FIXTURE, (scratch, twin)),
        curve_steps=tuple(FIXTURE.data.curve_steps),
        atol=1e-12,
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    "key, stage",
    [
        ("output", "forward output"),
        ("dloss", "dL/doutput"),
        ("grad.W1", "parameter gradient"),
        ("param.W2", "update (parameters after the step)"),
    ],
)
def test_where_it_grows_names_the_stage_where_the_difference_first_grows(key, stage):
    where = chain.where_it_grows(_diverging(key, STEP))
    assert where is not None and where["step"] == STEP and where["check"] == "training_run"
    assert where["stage"] == stage
    assert where["chain"][0]["stage"] == "parameters entering the step"
    assert where["chain"][0]["over_tolerance"] <= 1


def test_a_failure_first_grows_at_the_stage_of_its_first_divergence(networks):
    # A step whose buffers and gradients both part: the first divergence names the buffers (the stage order
    # the checks and goldens use), and so must the chain; a chain with the buffers last named the gradients.
    net = next(net for net in networks if net.name == "batchnorm_net")
    case = registry()["batchnorm_net"]
    scratch, twin = traces(case)
    twin = {k: v.copy() for k, v in twin.items()}
    buffer = next(k for k in twin if k.startswith("buffer.") and np.issubdtype(twin[k].dtype, np.floating))
    grad = next(k for k in twin if k.startswith("grad."))
    for key in (buffer, grad):
        twin[key][STEP] += 1e-6
    comparisons = tuple(run_check(case, check, (scratch, twin)) for check in CHECKS)
    broken = dataclasses.replace(net, comparisons=comparisons, run=run_of(case, (scratch, twin)))
    found = chain.first_divergence(broken)
    assert found is not None and (found[1].step, found[1].quantity) == (STEP, "buffer")
    where = chain.where_it_grows(broken)
    assert where is not None and where["stage"] == "buffers (running statistics)"
    stages = [link["stage"] for link in where["chain"]]
    assert stages.index("buffers (running statistics)") < stages.index("parameter gradient")


def test_passing_network_has_no_divergence(networks):
    for net in networks:
        if net.passed:
            assert chain.where_it_grows(net) is None and chain.first_divergence(net) is None


def test_html_is_self_contained_and_escapes_a_hostile_network(tmp_path):
    fake = _diverging("grad.W1", STEP)
    hostile = Finding("hostile", (HOSTILE,), HOSTILE, f"text with {HOSTILE} and `code {HOSTILE}`", {"x": 1.0})
    bench = {"title": "Benchmarks", "summary": HOSTILE, "columns": ["a"], "rows": [[HOSTILE]]}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    (tmp_path / "untitled.json").write_text(json.dumps({"figure": 1}))  # a tool's file without a title
    page = html.html_page(
        [fake],
        [Section(HOSTILE, (hostile,))],
        {"python": HOSTILE},
        {fake.name: write.network_plots(fake)},
        MADE,
        tmp_path,
    )

    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page and "&lt;b&gt;fake&lt;/b&gt; &amp;" in page
    tags = re.findall(r"<[A-Za-z][^>]*>", page)  # escaped text holds no "<": these are the page's own tags
    references = [r for tag in tags for r in re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]*)""", tag, re.I)]
    assert references, "the page should embed its plots"
    outside = [r for r in references if not (r.startswith("data:image/png;base64,") or r.startswith("#"))]
    assert outside == [], f"the page refers outside itself: {outside[:3]}"
    assert not re.search(r"<(?:link|iframe|object|embed|base)\b|@import|url\(", page, flags=re.IGNORECASE)
    assert page.count("data:image/png;base64,") == 4  # checks, curves, differences, and the zoom of a failure
    # A failing report opens with what failed, linked to the network's section.
    assert page.index('<div class="whatfailed"><h2>What failed</h2>') < page.index("<h2>Overview</h2>")
    assert '<h3><a href="#network-0">&lt;script&gt;' in page
    assert f"scratch and twin part at step {STEP}, gradient of W1" in page
    # The divergence is shown, placed in the chain.
    assert "first grows at: <strong>parameter gradient</strong>" in page
    assert f"at step {STEP}" in page
    # Sections other sessions write: shown when present, left out when absent.
    assert "<h2>Benchmarks</h2>" in page and '<a href="#extras">bench, untitled</a>' in page
    assert "<h2>untitled</h2>" in page  # shown under its file's name
    assert "mutation.json" not in page and "Mutation testing" not in page


def test_extra_sections_render_records_as_tables(tmp_path):
    records = {"seeds": 4, "networks": [{"name": "a", "passed": True, "detail": {"x": 1}}, {"name": HOSTILE}]}
    (tmp_path / "sweep.json").write_text(json.dumps(records))
    page = html._extra_html("sweep", tmp_path / "sweep.json")
    assert "<th>name</th><th>passed</th>" in page and "<td>&lt;script&gt;" in page
    assert "<details><summary>sweep.json in full" in page and "<script" not in page
    (tmp_path / "bad.json").write_text("{not json")
    assert "could not be read" in html._extra_html("bad", tmp_path / "bad.json")


def test_summary_escapes_a_hostile_network():
    text = markdown.summary_markdown([_diverging("output", 3)], [], MADE)
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert "the difference first grows at: **forward output**" in text


def test_write_summary_appends_to_the_github_step_summary(tmp_path, monkeypatch):
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    path = markdown.write_summary("# Cross-check summary\n", tmp_path / "out")
    assert path.read_text() == "# Cross-check summary\n"
    assert step_summary.read_text() == "earlier step\n# Cross-check summary\n\n"


def test_main_job_writes_the_summary(tmp_path, monkeypatch, capsys):
    from crosscheck.__main__ import main

    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setattr("crosscheck.environment.provenance", lambda: MADE)
    monkeypatch.setattr("crosscheck.__main__.registry", lambda: {FIXTURE.name: FIXTURE})
    monkeypatch.setattr("crosscheck.precision.configured_cases", lambda: ())  # not this repository's float32 list
    assert main(["--reports", str(tmp_path)]) == 0
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == markdown.summary_markdown(
        verdict.collect_all([FIXTURE]), sections(), MADE
    )
    assert "wrote" in capsys.readouterr().out


def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_report_made_outside_a_git_checkout_says_so():
    from crosscheck.keys import NOT_A_CHECKOUT
    from crosscheck.report.text import made_text

    assert made_text({"commit": NOT_A_CHECKOUT, "generated_at": "2026-12-06T00:00:00Z"}) == (
        "Made outside a git checkout at 2026-12-06T00:00:00Z."
    )
    assert made_text(MADE) == "Made from commit abc1234-dirty at 2026-12-02T12:00:00Z."


def test_a_failing_run_still_writes_every_report_and_exits_1(tmp_path, monkeypatch, capsys):
    # A report that stops at the first failure leaves the last green pages in place, "0 failed".
    broken = _diverging("grad.W1", STEP, name="broken_net")
    monkeypatch.setattr(cli, "collect_all", lambda cases=None: [broken])
    # float32.json from the fixture network's float32 run (40 steps) rather than the three tutorial networks'
    # (15,500 steps, the float32 battery's, which this process may not have run): what is tested is that a
    # failing run rewrites it, whatever networks [tool.crosscheck] float32 names.
    monkeypatch.setattr("crosscheck.precision.configured_cases", lambda: (FIXTURE,))
    monkeypatch.setattr("crosscheck.environment.provenance", lambda: MADE)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for name in ("summary.md", "results.json", "index.html", "float32.json"):
        (tmp_path / name).write_text("a stale report of an earlier, green run")

    assert cli.main(["--out", str(tmp_path)]) == 1

    err = capsys.readouterr().err
    assert "FAILED broken_net / training_run" in err
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "Made from commit abc1234-dirty at 2026-12-02T12:00:00Z." in summary
    assert "| broken_net |" in summary and "**FAIL**" in summary
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Made from commit abc1234-dirty at 2026-12-02T12:00:00Z." in page and '<td class="fail">FAIL</td>' in page
    data = _strict_json((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["provenance"] == MADE
    assert [n["passed"] for n in data["networks"]] == [False]
    float32 = _strict_json((tmp_path / "float32.json").read_text(encoding="utf-8"))
    assert float32["provenance"] == MADE
    assert [n["network"] for n in float32["networks"].values()] == ["fixture_report_float32"]


def test_a_project_that_names_no_float32_network_gets_no_float32_section(tmp_path, monkeypatch, capsys):
    # An empty table and the raw file in the page read as a broken report; a stale file would read as this run's.
    monkeypatch.setattr(cli, "collect_all", lambda cases=None: [_diverging("grad.W1", STEP, name="broken_net")])
    monkeypatch.setattr("crosscheck.precision.configured_cases", lambda: ())
    monkeypatch.setattr("crosscheck.environment.provenance", lambda: MADE)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (tmp_path / "float32.json").write_text('{"title": "Float32 drift", "rows": []}')

    assert cli.main(["--out", str(tmp_path)]) == 1

    assert not (tmp_path / "float32.json").exists()
    assert "Float32 drift" not in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "wrote " + str(tmp_path / "float32.json") not in capsys.readouterr().out


def test_results_json_is_strict_with_a_non_finite_difference():
    scratch, twin = traces(FIXTURE)
    twin = {k: v.copy() for k, v in twin.items()}
    twin["loss"][3] = np.inf
    comparisons = tuple(run_check(FIXTURE, check, (scratch, twin)) for check in CHECKS)
    net = dataclasses.replace(
        _diverging("loss", 3, name="inf_net"), comparisons=comparisons, run=run_of(FIXTURE, (scratch, twin))
    )

    data = _strict_json(results.results_text([net], [], {}, MADE))

    training = next(c for c in data["networks"][0]["checks"] if c["check"] == "training_run")
    assert training["max_abs"] is None and training["max_abs_nonfinite"] == "inf"
    assert training["max_rel"] is None and training["max_rel_nonfinite"] == "inf"
    assert training["first_divergence"]["reference"] is None
    assert training["first_divergence"]["reference_nonfinite"] == "inf"
    assert isinstance(training["atol"], float) and training["passed"] is False


def test_provenance_names_the_commit_or_says_there_is_none(tmp_path):
    from crosscheck.environment import provenance

    made = provenance(tmp_path)  # a folder outside any git checkout
    assert made["commit"] == "not a git checkout"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", made["generated_at"])
    here = provenance(Path(__file__).parent)
    assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?|.+-g[0-9a-f]{7,40}(-dirty)?", here["commit"]), here


def test_screenshot_says_how_to_install_chromium_when_absent(tmp_path, capsys):
    assert shot.main(["--chromium", str(tmp_path / "no-chromium"), "--page", str(tmp_path / "index.html")]) == 1
    err = capsys.readouterr().err
    assert "Chromium is absent" in err and "apt-get install chromium" in err


def test_main_job_lists_the_registered_networks(capsys):
    from crosscheck.__main__ import main

    assert main(["--list"]) == 0
    # Read from the case modules' source (tests/test_cli.py compares it with a fresh process's registry):
    # this process may also hold cases that other tests registered.
    names = capsys.readouterr().out.split()
    assert names == [n for n in registry() if n in names] and {"network_2_2_1", "xor_2_3_1"} <= set(names)


def test_main_job_suggests_the_nearest_name_for_a_misspelt_one(capsys):
    from crosscheck.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["network_2_2_l"])
    assert exc.value.code == 2  # a usage error, as argparse's own
    assert capsys.readouterr().err.splitlines()[-1] == (
        "crosscheck: unknown network 'network_2_2_l' (did you mean 'network_2_2_1'?); registered: "
        + ", ".join(registry())
    )


def test_main_job_help_is_plain_text(capsys):
    from crosscheck.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "--list" in out and "summary.md" in out
    assert " ".join(out.split()).endswith("crosscheck --list names them.")


def test_main_job_prints_one_progress_line_per_network_off_a_terminal():
    import io

    from crosscheck.__main__ import run_all

    progress = io.StringIO()  # not a terminal: no rewritten lines, no escape codes
    other = make_case(name="fixture_other")
    cases = {FIXTURE.name: FIXTURE, other.name: other}
    results = run_all(cases, None, progress=progress)
    lines = progress.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "fixture_report: 8 checks, all passed",
        "fixture_other: 8 checks, all passed",
    ]
    assert "\033" not in progress.getvalue() and "\r" not in progress.getvalue()
    assert len(results) == 16  # the two cases, 8 checks each


def test_main_job_says_in_one_line_what_is_wrong_with_the_project_settings(tmp_path, monkeypatch):
    from crosscheck.__main__ import main

    (tmp_path / "pyproject.toml").write_text('[tool.crosscheck]\ncases = "examples.mynet"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        main(["--list"])
    assert str(excinfo.value) == (
        f"crosscheck: {tmp_path / 'pyproject.toml'}: [tool.crosscheck] cases must be a list of names, "
        "got 'examples.mynet'"
    )
