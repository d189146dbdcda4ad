"""The HTML report (``stress-sim report``, ``simulator.report``).

From a small run (300 loans, two scenarios, two policies, 16 paths, 12 months): the page has a
section with an id for every scenario, every policy and every kind of figure, the tables and the
provenance; every figure is an inline PNG that decodes to a non-empty image of its declared size;
nothing in the page points outside it (no URL, script or external stylesheet); text from the
results is escaped. The CLI writes the page and, with ``--format png``, the figures; bad input
exits with status 2 and one message. Marked slow: the page opened in headless Chromium (Debian's
``chromium`` package, which ``.ci/run`` installs), with a screenshot saved as a test artifact.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from html import escape as html_escape
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import Result
from matplotlib import image as mpimg

from simulator.report import DPI, FIGSIZE, render_report, write_figures
from simulator.run import simulate

SCENARIOS = ["baseline", "severe"]
POLICIES = ["standard", "grace"]
REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO_ROOT / "tests" / "artifacts"))
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" '
                 r'height="(\d+)" alt="[^"]*" data-kind="(\w+)">')  # fmt: skip


@pytest.fixture(scope="module")
def results() -> xr.Dataset:
    return simulate(300, SCENARIOS, POLICIES, paths=16, horizon=12, seed=1)


@pytest.fixture(scope="module")
def page(results: xr.Dataset) -> tuple[str, dict[str, bytes]]:
    figures: dict[str, bytes] = {}
    return render_report(results, figures=figures), figures


@pytest.fixture(scope="module")
def results_file(results: xr.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "results.nc"
    results.to_netcdf(path, engine="h5netcdf")
    return path


def ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_every_section_for_every_scenario_and_policy(page: tuple[str, dict[str, bytes]]) -> None:
    html, _ = page
    found = ids(html)
    assert {"key-figures", "provenance"} <= found
    for s in SCENARIOS:
        assert {f"scenario-{s}", *(f"scenario-{s}-{k}" for k in FIGSIZE)} <= found
        assert f"<h2>Scenario {s}</h2>" in html
        for p in POLICIES:
            assert {f"scenario-{s}-{p}-liquidity", f"scenario-{s}-{p}-delinquency"} <= found
    for p in POLICIES:
        assert f"<h4>Policy {p}</h4>" in html
    for heading in ("Loss distribution", "Liquidity", "Delinquency", "Policy comparison"):
        assert html.count(f"<h3>{heading}") == len(SCENARIOS)
    # the tables behind the figures: one per loss, liquidity and delinquency figure, and per
    # comparison, plus the key figures and the provenance
    assert html.count("<table>") == 1 + len(SCENARIOS) * (2 + 2 * len(POLICIES)) + 1


def test_figures_are_inline_pngs_of_the_declared_size(page: tuple[str, dict[str, bytes]]) -> None:
    html, figures = page
    images = IMG.findall(html)
    assert len(images) == html.count("<img") == len(figures)
    per_scenario = {"loss": 1, "comparison": 1, "liquidity": len(POLICIES),
                    "delinquency": len(POLICIES)}  # fmt: skip
    kinds = [kind for *_, kind in images]
    assert {k: kinds.count(k) for k in FIGSIZE} == {
        k: n * len(SCENARIOS) for k, n in per_scenario.items()
    }
    for data, width, height, kind in images:
        png = base64.b64decode(data, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        expected = (round(FIGSIZE[kind][1] * DPI), round(FIGSIZE[kind][0] * DPI))
        assert pixels.shape[:2] == expected == (int(height), int(width)), kind
        assert pixels[..., :3].std() > 0.01, f"{kind} figure is blank"


def test_the_page_is_self_contained(page: tuple[str, dict[str, bytes]]) -> None:
    html, _ = page
    lowered = html.lower()
    for needle in ("http://", "https://", 'src="//', "<script", "<link", "url(", "@import"):
        assert needle not in lowered, needle
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'src="([^"]*)"', html))  # fmt: skip
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))


def test_provenance(page: tuple[str, dict[str, bytes]], results: xr.Dataset) -> None:
    html, _ = page
    provenance = html[html.index('<section id="provenance">') :]
    for key in ("seed", "paths", "horizon", "simulator_version", "created", "portfolio_sha256",
                "portfolio_source", "engine"):  # fmt: skip
        assert f"<td>{key}</td>" in provenance
    assert results.attrs["portfolio_sha256"] in provenance
    for name in ("model file", "treasury file", "scenario file: severe", "policy file: grace"):
        assert f"<summary>{name}</summary>" in provenance
    first_line = results.attrs["scenario_file_severe"].splitlines()[0]
    assert html_escape(first_line) in provenance


def test_single_policy_and_escaping(results: xr.Dataset) -> None:
    one = results.isel(scenario=[1], policy=[0]).assign_coords(scenario=["<b>&crisis"])
    one.attrs["portfolio_source"] = "<script>alert(1)</script>"
    html = render_report(one)
    assert "<b>&crisis" not in html and "&lt;b&gt;&amp;crisis" in html
    assert "<script" not in html
    assert "Policy comparison" not in html and "comparison" not in ids(html)
    assert len(IMG.findall(html)) == 3
    assert "scenario-b-crisis" in ids(html)


def test_write_figures(results: xr.Dataset, tmp_path: Path) -> None:
    one = results.isel(scenario=[0])
    written = write_figures(one, tmp_path / "figures")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["baseline-loss.png", "baseline-comparison.png"]
        + [f"baseline-{p}-{k}.png" for p in POLICIES for k in ("liquidity", "delinquency")]
    )
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_cli_writes_the_report_and_the_figures(
    cli: Callable[..., Result], results_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "committee" / "report.html"
    result = cli("report", results_file, "--out", out, "--format", "png")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert str(results_file) in html  # provenance names the results file
    assert len(IMG.findall(html)) == len(SCENARIOS) * (2 + 2 * len(POLICIES))
    pngs = sorted((tmp_path / "committee" / "report_figures").glob("*.png"))
    assert len(pngs) == len(SCENARIOS) * (2 + 2 * len(POLICIES))
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert not list(out.parent.glob(".*.tmp"))
    result = cli("report", results_file, "--out", tmp_path / "b.html", "--baseline", "grace")
    assert result.exit_code == 0, result.output
    assert "Policy comparison against grace" in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_cli_bad_input(
    cli: Callable[..., Result],
    bad_input: Callable[..., None],
    results_file: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "report.html"
    bad_input(cli("report", tmp_path / "missing.nc", "--out", out), "missing.nc", "does not exist")
    garbage = tmp_path / "garbage.nc"
    garbage.write_text("not a netcdf file")
    bad_input(cli("report", garbage, "--out", out), "garbage.nc", "cannot read it as a results")
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("t", np.arange(3))}).to_netcdf(other, engine="h5netcdf")
    bad_input(cli("report", other, "--out", out), "other.nc", "lacks loss_rate")
    bad_input(cli("report", results_file, "--out", tmp_path / "r.txt"), "ending in .html")
    bad_input(
        cli("report", results_file, "--out", out, "--baseline", "nope"),
        "baseline policy 'nope'",
    )
    assert not out.exists()


# --- a real browser ------------------------------------------------------------------------

# Chromium logs ERROR lines from subsystems that a container or CI machine lacks; they say
# nothing about the page. Ignored: dbus (no system or session bus), and the GPU, GL, Vulkan and
# display-compositor stack (no GPU; --disable-gpu). Any other ERROR or FATAL line fails the
# test, and so does any console message (the report has no script, so a console message means
# a page error, for instance a resource that failed to load).
HARMLESS = re.compile(r":(ERROR|WARNING):(dbus/|gpu/|ui/gl/|ui/ozone/|components/viz/|"
                      r"media/gpu/|sandbox/|content/browser/gpu/)")  # fmt: skip
LOG_LINE = re.compile(r"^\[[\d:/.]+:(ERROR|FATAL):")
PROBE = (
    "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
    " const d = document.createElement('div'); d.id = 'render-check';"
    " d.textContent = 'images=' + imgs.length + ' broken=' + imgs.filter(i => !(i.complete &&"
    " i.naturalWidth > 0)).length + ' sizes=' + imgs.map(i => i.naturalWidth + 'x' +"
    " i.naturalHeight).join(','); document.body.appendChild(d); });</script>"
)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    chromium = shutil.which("chromium")
    assert chromium, (
        "chromium is not on PATH: the browser test needs Debian's chromium package, which "
        ".ci/run installs (apt-get install chromium)"
    )
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--enable-logging=stderr", "--log-level=0",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def _page_errors(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    return [
        line
        for line in lines
        if ("CONSOLE" in line) or (LOG_LINE.match(line) and not HARMLESS.search(line))
    ]


@pytest.mark.slow
def test_report_renders_in_headless_chromium(
    page: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    html, _ = page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "report.html"
    report.write_text(html, encoding="utf-8")
    screenshot = ARTIFACTS / "report-screenshot.png"
    screenshot.unlink(missing_ok=True)

    shot = _chromium(
        [f"--screenshot={screenshot}", "--window-size=1280,2000", report.as_uri()],
        tmp_path / "profile-screenshot",
    )
    print(f"report: {report}\nscreenshot: {screenshot}")
    assert shot.returncode == 0, shot.stderr
    assert _page_errors(shot.stderr) == [], shot.stderr
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    pixels = mpimg.imread(screenshot, format="png")
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"

    # the rendered DOM: every heading, and every image decoded at its size (a test-only probe
    # script added to a copy of the page reports them once the page has loaded)
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(["--dump-dom", probed.as_uri()], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr
    assert _page_errors(dom.stderr) == [], dom.stderr
    for heading in ("Key figures", *(f"Scenario {s}" for s in SCENARIOS), "Provenance"):
        assert f"<h2>{heading}</h2>" in dom.stdout
    for p in POLICIES:
        assert f"<h4>Policy {p}</h4>" in dom.stdout
    check = re.search(r'<div id="render-check">images=(\d+) broken=(\d+) sizes=([^<]*)</div>',
                      dom.stdout)  # fmt: skip
    assert check, "the probe did not run: the page did not finish loading"
    sizes = [f"{w}x{h}" for _, w, h, _ in IMG.findall(html)]
    assert (int(check[1]), int(check[2]), check[3].split(",")) == (len(sizes), 0, sizes)
