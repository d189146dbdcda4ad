"""The four kinds of TOML configuration file (SPEC 3.2-3.5): model, scenario, policy, treasury.

Covers: every shipped file loads and passes the cross-checks against the default model (policy
tier and segment names, scenario macro variables); each class of bad input is refused with an
``InputError`` naming the file and the key path, and by ``stress-sim scenarios check PATH`` with
exit status 2 and no traceback; unknown shipped names; scenarios from a CSV history (monthly and
quarterly, resampled by linear interpolation); ``Scenario.macro_path`` interpolation and flat
extrapolation.

Bad files are a shipped file's text with one edit, written to ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from simulator.errors import InputError
from simulator.inputs import check_file, guess_kind
from simulator.inputs.files import KINDS, resolve, shipped_dir, shipped_names
from simulator.inputs.model import check_macro_variables, load_model
from simulator.inputs.policy import check_policy_against_model, load_policy
from simulator.inputs.scenario import load_scenario
from simulator.inputs.treasury import load_treasury
from simulator.states import ACTIVE_STATES, DESTINATIONS

LOADERS = {
    "model": load_model,
    "scenario": load_scenario,
    "policy": load_policy,
    "treasury": load_treasury,
}
SHIPPED = [(kind, name) for kind in KINDS for name in shipped_names(kind)]

# The names SPEC 3 requires to ship.
REQUIRED_NAMES = {
    "model": {"default"},
    "scenario": {"baseline", "adverse", "severe", "pandemic", "stagflation"},
    "policy": {
        "standard",
        "grace",
        "reinstalment-12",
        "holiday-3",
        "settlement",
        "early-warning",
        "harsh-collections",
    },
    "treasury": {"default"},
}


def shipped_text(kind: str, name: str) -> str:
    return resolve(kind, name).read_text(encoding="utf-8")  # type: ignore[arg-type]


def edited(text: str, old: str, new: str) -> str:
    """``text`` with its one occurrence of ``old`` replaced (fails if the edit is ambiguous)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


# --- shipped files --------------------------------------------------------------------------


def test_required_names_are_shipped():
    for kind, names in REQUIRED_NAMES.items():
        assert names <= set(shipped_names(kind)), kind  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "name"), SHIPPED)
def test_shipped_file_loads(kind, name):
    obj = LOADERS[kind](name)
    assert obj.name == name
    assert obj.description
    assert obj.text == shipped_text(kind, name)
    assert Path(obj.source).parent == shipped_dir() / kind


@pytest.mark.parametrize("name", shipped_names("policy"))
def test_shipped_policy_matches_default_model(name):
    check_policy_against_model(load_policy(name), load_model("default"))


@pytest.mark.parametrize("name", shipped_names("scenario"))
def test_shipped_scenario_has_the_model_macro_variables(name):
    scenario = load_scenario(name)
    model = load_model("default")
    check_macro_variables(model, set(scenario.variables), scenario.source)
    assert set(scenario.variables) >= set(model.macro_variables)
    for variable in scenario.variables:
        path = scenario.macro_path(variable, scenario.horizon)
        assert path.shape == (scenario.horizon + 1,)
        assert np.isfinite(path).all()


@pytest.mark.parametrize(("kind", "name"), SHIPPED)
def test_shipped_file_kind_is_guessed(kind, name):
    assert guess_kind(resolve(kind, name)) == kind


def test_default_model_shape():
    model = load_model("default")
    assert model.segment_names == ("salaried", "self_employed", "micro_business")
    for segment in model.segments:
        assert 0 <= segment.rho < 1
        for matrix in (segment.normal, segment.restructured):
            assert matrix.shape == (len(ACTIVE_STATES), len(DESTINATIONS))
            np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-9)
            assert (matrix >= 0).all()
    deltas = [t.delta for t in model.tiers]
    assert deltas == sorted(deltas), "riskier tiers (later) must have larger probit offsets"
    assert deltas[-1] > 0


def test_standard_policy_is_collections_only():
    policy = load_policy("standard")
    assert policy.collections.intensity == 1.0
    levers = ("grace", "reinstalment", "holiday", "settlement", "legal", "early_warning")
    assert all(getattr(policy, lever) is None for lever in levers)


# --- bad files ------------------------------------------------------------------------------

# (id, kind, shipped file, old text, new text, fragments of the message)
BAD_EDITS = [
    # model
    (
        "model-row-sum",
        "model",
        "default",
        "dpd_1_30    = [0.2, 0.08, 0.72,",
        "dpd_1_30    = [0.2, 0.08, 0.82,",
        ["segments.salaried.normal.dpd_1_30", "sums to 1.1", "expected 1"],
    ),
    (
        "model-two-bucket-jump",
        "model",
        "default",
        "current     = [0.996, 0.004, 0.0,",
        "current     = [0.996, 0.0, 0.004,",
        ["segments.salaried.normal.current", "at most one bucket worse"],
    ),
    (
        "model-probability-above-one",
        "model",
        "default",
        "current     = [0.996, 0.004, 0.0,",
        "current     = [1.004, -0.004, 0.0,",
        ["segments.salaried.normal.current[0]", "[0, 1]"],
    ),
    (
        "model-rho-one",
        "model",
        "default",
        "rho = 0.08",
        "rho = 1.0",
        ["segments.salaried.rho", "[0, 1)"],
    ),
    (
        "model-unknown-key",
        "model",
        "default",
        "prepayment = 0.02\n",
        "prepaymnet = 0.02\n",
        ["segments.salaried.prepaymnet", "unknown key", "prepayment"],
    ),
    (
        "model-missing-key",
        "model",
        "default",
        "penalty_multiplier = 1.5\n",
        "",
        ["penalty_multiplier", "missing"],
    ),
    (
        "model-tier-cutoffs-not-decreasing",
        "model",
        "default",
        "min_score = 690",
        "min_score = 790",
        ["tiers", "strictly decrease"],
    ),
    # scenario
    (
        "scenario-months-not-increasing",
        "scenario",
        "adverse",
        "unemployment_rate = [[0, 5.2], [6, 6.5], [12, 7.2]",
        "unemployment_rate = [[0, 5.2], [12, 6.5], [6, 7.2]",
        ["macro.unemployment_rate", "strictly increase", "[0, 12, 6, 24]"],
    ),
    (
        "scenario-first-point-not-month-0",
        "scenario",
        "adverse",
        "gdp_growth = [[0, 5.0]",
        "gdp_growth = [[1, 5.0]",
        ["macro.gdp_growth", "month 0"],
    ),
    (
        "scenario-value-not-a-number",
        "scenario",
        "adverse",
        "gdp_growth = [[0, 5.0]",
        'gdp_growth = [[0, "five"]',
        ["macro.gdp_growth[0][1]", "expected a number", "'five'"],
    ),
    (
        "scenario-horizon-zero",
        "scenario",
        "adverse",
        "horizon = 24",
        "horizon = 0",
        ["horizon", "whole number in [1,"],
    ),
    (
        "scenario-horizon-negative",
        "scenario",
        "adverse",
        "horizon = 24",
        "horizon = -12",
        ["horizon", "whole number in [1,", "-12"],
    ),
    (
        "scenario-phi-one",
        "scenario",
        "adverse",
        "phi = 0.8",
        "phi = 1.0",
        ["factor.phi", "(-1, 1)"],
    ),
    (
        "scenario-phi-minus-one",
        "scenario",
        "adverse",
        "phi = 0.8",
        "phi = -1.0",
        ["factor.phi", "(-1, 1)"],
    ),
    (
        "scenario-unknown-key",
        "scenario",
        "adverse",
        "sigma = 0.8",
        "sigam = 0.8",
        ["factor.sigam", "unknown key", "phi, sigma"],
    ),
    (
        "scenario-missing-key",
        "scenario",
        "adverse",
        "sigma = 0.8\n",
        "",
        ["factor.sigma", "missing"],
    ),
    # policy
    (
        "policy-grace-days-above-3",
        "policy",
        "grace",
        "A = 3",
        "A = 4",
        ["grace.days.A", "[0, 3]"],
    ),
    (
        "policy-settlement-channel",
        "policy",
        "settlement",
        'channel = "mediation"',
        'channel = "court"',
        ["settlement.channel", "one of: direct, mediation", "'court'"],
    ),
    (
        "policy-early-warning-holiday-without-table",
        "policy",
        "early-warning",
        "[holiday]\neligible = []              # offered only through the early warning below\n"
        "months = 2\ntake_up = 0.30\nmax_per_loan = 1\n",
        "",
        ["early_warning.offer", "'holiday'", "[holiday] table"],
    ),
    (
        "policy-unknown-bucket",
        "policy",
        "holiday-3",
        'eligible = ["dpd_1_30"]',
        'eligible = ["M1"]',
        ["holiday.eligible[0]", "dpd_1_30, dpd_31_60"],
    ),
    (
        "policy-unknown-key",
        "policy",
        "standard",
        "intensity = 1.0",
        "intensty = 1.0",
        ["collections.intensty", "unknown key"],
    ),
    (
        "policy-missing-key",
        "policy",
        "standard",
        "cost_per_account = 15.0\n",
        "",
        ["collections.cost_per_account", "missing"],
    ),
    # treasury
    (
        "treasury-basis",
        "treasury",
        "default",
        'basis = "book"\n',
        'basis = "percent"\n',
        ["basis", "one of: book, absolute", "'percent'"],
    ),
    (
        "treasury-rollover-floor",
        "treasury",
        "default",
        "floor = 0.30",
        "floor = 1.30",
        ["funding[0].rollover.floor", "[0, 1]"],
    ),
    (
        "treasury-plan-not-increasing",
        "treasury",
        "default",
        'mode = "replace"\nthrottle',
        'mode = "plan"\nplan = [[24, 0.08], [1, 0.08]]\nthrottle',
        ["new_lending.plan", "strictly increase"],
    ),
    (
        "treasury-unknown-key",
        "treasury",
        "default",
        "initial_buffer = 0.10",
        "initial_bufer = 0.10",
        ["initial_bufer", "unknown key"],
    ),
    (
        "treasury-missing-key",
        "treasury",
        "default",
        "operating_cost_per_account = 2.5\n",
        "",
        ["operating_cost_per_account", "missing"],
    ),
]
# Invalid TOML and non-UTF-8 bytes, for one file of each kind.
BROKEN = [(kind, shipped_names(kind)[0]) for kind in KINDS]  # type: ignore[arg-type]

# Names in a policy that the model does not know: caught by the cross-check.
CROSS_EDITS = [
    ("grace", "A = 3", "AA = 3", ["grace.days", "unknown tier AA", "A, B, C, D, E"]),
    (
        "reinstalment-12",
        "salaried = 0.20",
        "salary = 0.20",
        ["reinstalment.application", "unknown segment salary", "salaried"],
    ),
    (
        "reinstalment-12",
        "E = 0.25",
        "Z = 0.25",
        ["reinstalment.approval", "unknown tier Z"],
    ),
    ("early-warning", 'tiers = ["D", "E"]', 'tiers = ["D", "F"]', ["early_warning.tiers", "F"]),
]


@pytest.fixture
def bad_file(tmp_path):
    """``bad_file(kind, name, old, new)``: the edited shipped file, as ``bad-NAME.toml``."""

    def write(kind: str, name: str, old: str, new: str) -> Path:
        path = tmp_path / f"bad-{name}.toml"
        path.write_text(edited(shipped_text(kind, name), old, new), encoding="utf-8")
        return path

    return write


@pytest.mark.parametrize(
    ("kind", "name", "old", "new", "fragments"),
    [case[1:] for case in BAD_EDITS],
    ids=[case[0] for case in BAD_EDITS],
)
def test_bad_file_raises_input_error(bad_file, kind, name, old, new, fragments):
    path = bad_file(kind, name, old, new)
    with pytest.raises(InputError) as info:
        LOADERS[kind](path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("kind", "name", "old", "new", "fragments"),
    [case[1:] for case in BAD_EDITS],
    ids=[case[0] for case in BAD_EDITS],
)
def test_bad_file_is_refused_by_cli(cli, bad_input, bad_file, kind, name, old, new, fragments):
    path = bad_file(kind, name, old, new)
    bad_input(cli("scenarios", "check", path), f"bad-{name}.toml", *fragments)


def test_unused_macro_scale_is_fine(bad_file):
    path = bad_file("model", "default", "funding_spread_bp = 100.0", "")
    assert "funding_spread_bp" not in load_model(path).macro_variables


def test_beta_needs_a_macro_scale(bad_file):
    path = bad_file("model", "default", "input_cost_index = 10.0", "")
    with pytest.raises(InputError, match=r"segments\.self_employed\.beta\.input_cost_index"):
        load_model(path)


@pytest.mark.parametrize(("name", "old", "new", "fragments"), CROSS_EDITS)
def test_policy_names_are_checked_against_the_model(
    cli, bad_input, bad_file, name, old, new, fragments
):
    path = bad_file("policy", name, old, new)
    policy = load_policy(path)  # the file alone is valid
    with pytest.raises(InputError) as info:
        check_policy_against_model(policy, load_model("default"))
    assert str(info.value).startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in str(info.value)
    bad_input(cli("scenarios", "check", path), f"bad-{name}.toml", *fragments)


@pytest.mark.parametrize(("kind", "name"), BROKEN)
def test_invalid_toml_syntax(cli, bad_input, tmp_path, kind, name):
    path = tmp_path / f"bad-{name}.toml"
    path.write_text(shipped_text(kind, name) + "\nbroken = = 1\n", encoding="utf-8")
    with pytest.raises(InputError, match="invalid TOML"):
        LOADERS[kind](path)
    bad_input(cli("scenarios", "check", path), f"bad-{name}.toml", "invalid TOML", "line")


@pytest.mark.parametrize(("kind", "name"), BROKEN)
def test_not_utf8(cli, bad_input, tmp_path, kind, name):
    path = tmp_path / f"bad-{name}.toml"
    # a Latin-1 "é" (0xE9) in a comment: byte 2 of the file is not valid UTF-8
    path.write_bytes(b"# \xe9\n" + shipped_text(kind, name).encode())
    with pytest.raises(InputError, match="not UTF-8"):
        LOADERS[kind](path)
    bad_input(cli("scenarios", "check", path), f"bad-{name}.toml", "not UTF-8", "byte 2")


def test_huge_integer_is_a_clear_error(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(edited(shipped_text("scenario", "adverse"), "phi = 0.8", "phi = 1" + "0" * 400))
    with pytest.raises(InputError, match=r"factor\.phi: expected a number"):
        load_scenario(path)


def test_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(InputError) as info:
        load_scenario("nope")
    message = str(info.value)
    assert "unknown scenario 'nope'" in message
    for name in shipped_names("scenario"):
        assert name in message
    assert REQUIRED_NAMES["scenario"] <= set(shipped_names("scenario"))


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_name_of_each_kind(kind):
    with pytest.raises(InputError, match=f"unknown {kind} 'nope'"):
        LOADERS[kind]("nope")


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="no such policy file"):
        load_policy(tmp_path / "absent.toml")


def test_check_file_cross_checks_scenarios(tmp_path):
    path = tmp_path / "thin.toml"
    text = edited(
        shipped_text("scenario", "adverse"),
        "input_cost_index = [[0, 100.0], [6, 104.0], [12, 106.0], [24, 104.0]]\n",
        "",
    )
    path.write_text(text, encoding="utf-8")
    assert "input_cost_index" not in load_scenario(path).variables  # valid on its own
    with pytest.raises(InputError, match=r"macro variable.*input_cost_index.*missing"):
        check_file(path)


# --- macro paths ----------------------------------------------------------------------------


def test_macro_path_interpolates_between_anchors():
    # adverse: unemployment_rate = [[0, 5.2], [6, 6.5], [12, 7.2], [24, 6.8]]
    path = load_scenario("adverse").macro_path("unemployment_rate", 24)
    assert path[0] == pytest.approx(5.2)
    assert path[3] == pytest.approx(5.2 + (6.5 - 5.2) * 3 / 6)  # 5.85
    assert path[6] == pytest.approx(6.5)
    assert path[9] == pytest.approx(6.5 + (7.2 - 6.5) * 3 / 6)  # 6.85
    assert path[18] == pytest.approx(7.2 + (6.8 - 7.2) * 6 / 12)  # 7.0
    assert path[24] == pytest.approx(6.8)


def test_macro_path_is_flat_beyond_the_last_anchor():
    scenario = load_scenario("adverse")
    path = scenario.macro_path("gdp_growth", 36)  # last anchor [24, 3.0]
    assert path.shape == (37,)
    np.testing.assert_array_equal(path[24:], np.full(13, 3.0))


def test_scenario_fields():
    scenario = load_scenario("adverse")
    assert scenario.horizon == 24
    assert scenario.start == dt.date(2027, 1, 1)
    assert scenario.phi == 0.8
    assert scenario.sigma == 0.8
    assert scenario.anchors["funding_spread_bp"][0] == (0, 80.0)


HISTORY_SCENARIO = """description = "history"
horizon = 12

[factor]
phi = 0.5
sigma = 1.0

[history]
file = "hist.csv"
"""


def write_history(tmp_path: Path, csv: str, toml: str = HISTORY_SCENARIO) -> Path:
    (tmp_path / "hist.csv").write_text(csv, encoding="utf-8")
    path = tmp_path / "hist.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def test_quarterly_history_is_resampled_to_months(tmp_path):
    csv = (
        "date,unemployment_rate,gdp_growth\n"
        "2007Q1,5.0,10.0\n"
        "2007Q2,5.6,8.5\n"
        "2007Q3,6.2,7.0\n"
        "2007Q4,5.9,7.5\n"
    )
    scenario = load_scenario(write_history(tmp_path, csv))
    # the first quarter's first month is month 0: month 1, the scenario's start, is the next
    assert scenario.start == dt.date(2007, 2, 1)
    # quarters sit at months 0, 3, 6, 9; months between are linear
    unemployment = scenario.macro_path("unemployment_rate", 12)
    expected = [5.0, 5.2, 5.4, 5.6, 5.8, 6.0, 6.2, 6.1, 6.0, 5.9, 5.9, 5.9, 5.9]
    np.testing.assert_allclose(unemployment, expected)
    gdp = scenario.macro_path("gdp_growth", 12)
    assert gdp[4] == pytest.approx(8.5 + (7.0 - 8.5) / 3)  # 8.0, a month after 2007Q2
    assert gdp[12] == pytest.approx(7.5)  # flat after the last quarter


def test_monthly_history(tmp_path):
    csv = "date,unemployment_rate\n2020-01,5.0\n2020-02-01,6.0\n2020-03,8.0\n"
    scenario = load_scenario(write_history(tmp_path, csv))
    assert scenario.start == dt.date(2020, 2, 1)  # month 1: the month after the first row's
    np.testing.assert_allclose(scenario.macro_path("unemployment_rate", 4), [5, 6, 8, 8, 8])
    # a December first row: month 1 is the next January
    december = load_scenario(write_history(tmp_path, "date,unemployment_rate\n2019-12,5\n"))
    assert december.start == dt.date(2020, 1, 1)


def test_history_start_can_be_overridden(tmp_path):
    toml = HISTORY_SCENARIO.replace('file = "hist.csv"', 'file = "hist.csv"\nstart = 2030-07-01')
    scenario = load_scenario(write_history(tmp_path, "date,x\n2020-01,1\n2020-02,2\n", toml))
    assert scenario.start == dt.date(2030, 7, 1)


@pytest.mark.parametrize(
    ("csv", "fragment"),
    [
        ("date,x\n2020-01,1\n2020-03,2\n", "consecutive"),
        ("date,x\n2020Q1,1\n2020Q3,2\n", "consecutive"),
        ("date,x\nJan 2020,1\n", "row 1, column date"),
        ("date,x\n2020-13,1\n", "row 1, column date"),
        ("date,x\n0000-01,1\n", "row 1, column date"),  # there is no year 0
        ("date,x\n2020-01,1\n2020-02,oops\n", "row 2, column x: expected a number, got 'oops'"),
        ("date,x\n2020-01,1\n2020-02,inf\n", "row 2, column x: expected a number"),
        ("date,x\n2020-01,1\n2020-02,\n", "row 2, column x: expected a number"),
        ("when,x\n2020-01,1\n", "'date' column"),
    ],
)
def test_bad_history(tmp_path, csv, fragment):
    with pytest.raises(InputError, match=fragment):
        load_scenario(write_history(tmp_path, csv))


def test_missing_history_file(tmp_path):
    path = tmp_path / "hist.toml"
    path.write_text(HISTORY_SCENARIO, encoding="utf-8")
    with pytest.raises(InputError, match="history file not found"):
        load_scenario(path)


def test_history_scenario_is_cross_checked_by_cli(cli, bad_input, tmp_path):
    path = write_history(tmp_path, "date,unemployment_rate\n2020-01,5.0\n2020-02,6.0\n")
    bad_input(
        cli("scenarios", "check", path),
        "hist.toml",
        "gdp_growth",
        "self_employed_income",
        "missing from the scenario",
    )


def test_macro_and_history_together_are_refused(tmp_path):
    toml = shipped_text("scenario", "adverse") + '\n[history]\nfile = "hist.csv"\n'
    with pytest.raises(InputError, match=r"exactly one of \[macro\]"):
        load_scenario(write_history(tmp_path, "date,x\n2020-01,1\n", toml))
