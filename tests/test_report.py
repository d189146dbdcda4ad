"""The HTML report (``stress-sim report``, ``simulator.report``).

From a small run (300 loans, two scenarios, two policies, 16 paths, 12 months): the page opens on
the summary (a sentence per scenario naming the best policy on loss and on liquidity with its
paired interval, and a table of every policy side by side), then has a section with an id for
every scenario, every policy and every kind of figure, the tables (the month-by-month ones
folded) and the provenance; every figure is an inline PNG that decodes to a non-empty image of
its declared size; nothing in the page points outside it (no URL, script or external
stylesheet); text from the results is escaped. The sentence is checked on hand-made comparisons
(a significant and a non-significant best policy, the baseline best, no difference at all). The
CLI writes the page, with ``--format png`` the figures and with ``--xlsx`` a workbook whose
sheets are the page's tables (read back: captions, headers, numbers equal to the summary's);
bad input exits with status 2 and one message. Marked slow: the page opened in headless
Chromium (Debian's ``chromium`` package, which ``scripts/setup-and-test`` installs) at 1280 and
800 px wide, with no text wider than its box, and screenshots saved as test artifacts.
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

from simulator.metrics import summarize
from simulator.report import DPI, FIGSIZE, render_report, write_figures, write_tables
from simulator.report.summary import verdict
from simulator.run import simulate

SCENARIOS = ["baseline", "severe"]
POLICIES = ["standard", "grace"]
SECTIONS = ("loss", "liquidity", "delinquency", "books", "comparison")
PER_SCENARIO = {"loss": 1, "buffers": 1, "comparison": 1, "liquidity": len(POLICIES),
                "delinquency": len(POLICIES), "books": 3}  # fmt: skip
"""Figures of each kind per scenario."""
FIGURES = len(SCENARIOS) * sum(PER_SCENARIO.values())
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
    assert {"summary", "provenance"} <= found
    for s in SCENARIOS:
        assert {f"scenario-{s}", *(f"scenario-{s}-{k}" for k in SECTIONS)} <= found
        assert f"<h2>Scenario {s}</h2>" in html
        for p in POLICIES:
            assert {f"scenario-{s}-{p}-liquidity", f"scenario-{s}-{p}-delinquency"} <= found
    for p in POLICIES:
        assert f"<h4>Policy {p}</h4>" in html
    for heading in ("Loss distribution", "Liquidity", "Delinquency", "Policy comparison"):
        assert html.count(f"<h3>{heading}") == len(SCENARIOS)
    # the summary's table per scenario; the tables behind the loss, liquidity and delinquency
    # figures, the comparison and its mechanisms; the provenance. The month-by-month ones are
    # folded. The delinquency section opens on the published KPIs' table (one per scenario);
    # the loss section ends on the segments' contributions to the ES (what drives the tail).
    per_scenario = 1 + 2 + 1 + 2 * len(POLICIES) + 2 + 3  # books: the policies, the transfers
    for caption in ("paired loss differences against", "what each policy costs and earns",
                    "mechanisms at work (pooled"):  # fmt: skip
        assert html.count(caption) == len(SCENARIOS), caption
    assert html.count("<td>Day-1 misses paid within grace</td>") == len(SCENARIOS)
    assert html.count("the KPIs lenders publish - 90+ DPD ratio") == len(SCENARIOS)
    assert html.count("what drives the tail - each segment") == len(SCENARIOS)
    assert html.count("<table>") == len(SCENARIOS) * per_scenario + 1
    assert html.count('<details class="table"><summary>Month by month') == (
        len(SCENARIOS) * 2 * len(POLICIES)
    )


def test_the_page_opens_on_the_answer(page: tuple[str, dict[str, bytes]], results) -> None:
    """First the summary: a sentence per scenario naming the policy with the lowest lifetime
    loss (horizon losses plus the closing allowance) and the one with the highest minimum
    buffer, each with its interval; then a table of
    every policy's loss and liquidity side by side with its paired differences."""
    html, _ = page
    body = html[html.index("<main>") :]
    assert body.index('id="summary"') < body.index("<nav>") < body.index('id="scenario-')
    summary = summarize(results, levels=(0.99,))
    opening = body[: body.index("<nav>")]
    for s in SCENARIOS:
        sentence = re.search(rf'<p class="verdict" id="verdict-{s}">(.*?)</p>', opening)
        assert sentence, s
        el = summary["expected_lifetime_loss"].sel(scenario=s)
        best = str(el.idxmin("policy").values)
        assert sentence[1].startswith(f"Under {s}, {best}")
        assert "lowest lifetime loss" in sentence[1]
        assert "highest mean minimum liquidity buffer" in sentence[1]
        if best == "standard":  # the baseline is named as such in each clause it wins
            assert sentence[1].startswith(f"Under {s}, {best}, the baseline, has")
        else:
            assert sentence[1].count(f"{best} has") == 1  # "it also has" when it wins both
        assert sentence[1].count("95% interval") == 2
        assert sentence[1].count("significant") == 2
    table = opening[opening.index("<table><caption>baseline: loss rate and liquidity") :]
    table = table[: table.index("</table>")]
    for header in ("expected loss", "ES 99%", "min buffer, 1% of paths (CNY)",
                   "P(shortfall in 12 months)", "Δ expected loss vs standard (pp)",
                   "Δ ES 99% vs standard (pp)", "Δ mean min buffer vs standard (CNY)"):  # fmt: skip
        assert f"<th>{html_escape(header)}</th>" in table
    el = float(summary["expected_loss"].sel(scenario="baseline", policy="grace"))
    assert f"{el * 100:.2f}%" in table
    assert table.count("<tr>") == 1 + len(POLICIES)
    assert '<span class="ci">[' in table  # the intervals


def test_figures_are_inline_pngs_of_the_declared_size(page: tuple[str, dict[str, bytes]]) -> None:
    html, figures = page
    images = IMG.findall(html)
    assert len(images) == html.count("<img") == len(figures) == FIGURES
    kinds = [kind for *_, kind in images]
    assert {k: kinds.count(k) for k in FIGSIZE} == {
        k: n * len(SCENARIOS) for k, n in PER_SCENARIO.items()
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
    # loss, liquidity, delinquency, books (NPL, capital, transfers): no overlay of one policy
    assert len(IMG.findall(html)) == 6
    assert "only standard was run" in html
    assert "scenario-b-crisis" in ids(html)


def test_write_figures(results: xr.Dataset, tmp_path: Path) -> None:
    one = results.isel(scenario=[0])
    written = write_figures(one, tmp_path / "figures")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["baseline-loss.png", "baseline-buffers.png", "baseline-comparison.png"]
        + [f"baseline-{k}.png" for k in ("npl-ratio", "capital-ratio", "stage-transfers")]
        + [f"baseline-{p}-{k}.png" for p in POLICIES for k in ("liquidity", "delinquency")]
    )
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_write_tables(results: xr.Dataset, tmp_path: Path) -> None:
    import openpyxl

    one = results.isel(scenario=[0])
    names = write_tables(one, tmp_path / "tables.xlsx")
    policies = [f"{k}-baseline-{p}" for k in ("liquidity", "delinquency") for p in POLICIES]
    assert sorted(names) == sorted(["summary-baseline", "loss-baseline", "contributions-baseline",
                                    "comparison-baseline",
                                    "costs-baseline", "mechanisms-baseline",
                                    "kpis-baseline", "books-baseline", "stage-transfers-baseline",
                                    "provenance", *policies])  # fmt: skip
    assert names[0] == "summary-baseline" and names[-1] == "provenance"  # the page's order
    assert openpyxl.load_workbook(tmp_path / "tables.xlsx", read_only=True).sheetnames == names


def test_cli_writes_the_report_and_the_figures(
    cli: Callable[..., Result], results_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "committee" / "report.html"
    result = cli("report", results_file, "--out", out, "--format", "png")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert str(results_file) in html  # provenance names the results file
    assert len(IMG.findall(html)) == FIGURES
    pngs = sorted((tmp_path / "committee" / "report_figures").glob("*.png"))
    assert len(pngs) == FIGURES
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


def hand_made(diffs: dict[str, tuple[float, float, float]], stem: str = "loss_rate"):
    """A summary and a comparison of policies against "standard" with the given (mean, low,
    high) differences for ``stem`` (the other measure: no difference)."""
    policies = ["standard", *diffs]
    coords = {"scenario": ["adverse"], "policy": policies}
    summary = xr.Dataset(
        {"expected_loss": (("scenario", "policy"), [[0.05] * len(policies)])}, coords=coords
    )
    comparison = xr.Dataset(coords=coords, attrs={"confidence": 0.95})
    for measure in ("loss_rate", "min_buffer"):
        for i, suffix in enumerate(("", "_low", "_high")):
            values = [0.0] + [d[i] if measure == stem else 0.0 for d in diffs.values()]
            comparison[f"{measure}_diff{suffix}"] = (("scenario", "policy"), [values])
        se = [0.0] + [(d[2] - d[1]) / 3.92 if measure == stem else 0.0 for d in diffs.values()]
        comparison[f"{measure}_diff_se"] = (("scenario", "policy"), [se])
    return policies, summary, comparison


@pytest.mark.parametrize(
    ("diffs", "fragments"),
    [
        # b is best and its interval excludes 0; a is better than the baseline, not the best
        ({"a": (-0.001, -0.002, 0.0005), "b": (-0.004, -0.006, -0.002)},
         ["b has the lowest expected loss, -0.40 pp against standard",
          "95% interval [-0.60, -0.20] pp: significant"]),
        # the best one's interval includes 0
        ({"a": (-0.001, -0.003, 0.001)},
         ["a has the lowest expected loss, -0.10 pp against standard",
          "[-0.30, +0.10] pp: not significant, it includes 0"]),
        # every policy loses more than the baseline: the next best against it
        ({"a": (0.003, 0.001, 0.005), "b": (0.001, -0.001, 0.003)},
         ["standard, the baseline, has the lowest expected loss; the next best, b, is +0.10 pp",
          "[-0.10, +0.30] pp: not significant"]),
    ],
)  # fmt: skip
def test_the_sentence_names_the_best_policy_and_its_significance(diffs, fragments) -> None:
    policies, summary, comparison = hand_made(diffs)
    sentence = verdict("adverse", policies, "standard", summary, comparison)
    assert sentence.startswith("Under adverse, ")
    for fragment in fragments:
        assert fragment in sentence, sentence
    # the liquidity half: no policy moves the buffer in these hand-made comparisons
    assert "no policy changes the mean minimum liquidity buffer" in sentence


def test_one_policy_best_on_both() -> None:
    policies, summary, comparison = hand_made({"a": (-0.01, -0.02, -0.005)})
    # the buffer rises by 1e8 CNY per unit of loss rate saved: the same policy is best on both
    for mine, its in (("", ""), ("_low", "_high"), ("_high", "_low")):
        comparison[f"min_buffer_diff{mine}"] = -comparison[f"loss_rate_diff{its}"] * 1e8
    comparison["min_buffer_diff_se"] = comparison["loss_rate_diff_se"] * 1e8
    sentence = verdict("adverse", policies, "standard", summary, comparison)
    assert sentence.startswith("Under adverse, a has the lowest expected loss, -1.00 pp")
    also = ("; it also has the highest mean minimum liquidity buffer, +1.00 million CNY against "
            "standard (95% interval [+0.50, +2.00] million CNY: significant)")  # fmt: skip
    assert also in sentence


def test_the_sentence_on_liquidity() -> None:
    policies, summary, comparison = hand_made(
        {"a": (250_000.0, 50_000.0, 450_000.0), "b": (-1e6, -2e6, -5e5)}, stem="min_buffer"
    )
    sentence = verdict("adverse", policies, "standard", summary, comparison)
    assert (
        "a has the highest mean minimum liquidity buffer, +250.0 thousand CNY against "
        "standard (95% interval [+50.0, +450.0] thousand CNY: significant)"
    ) in sentence
    assert "no policy changes the expected loss" in sentence  # fmt: skip


def test_cli_writes_the_tables_to_a_workbook(
    cli: Callable[..., Result], results_file: Path, results: xr.Dataset, tmp_path: Path
) -> None:
    import openpyxl

    out, book = tmp_path / "r.html", tmp_path / "pack" / "tables.xlsx"
    result = cli("report", results_file, "--out", out, "--xlsx", book)
    assert result.exit_code == 0, result.output
    assert f"tables written to {book}" in result.output
    html = out.read_text(encoding="utf-8")
    workbook = openpyxl.load_workbook(book, read_only=True)
    sheets = workbook.sheetnames
    # one sheet per table of the page, in the page's order, each with the page's caption
    captions = re.findall(r"<caption>([^<]*)</caption>", html)
    assert len(sheets) == len(captions) == html.count("<table>")
    assert len(set(sheets)) == len(sheets) and all(len(s) <= 31 for s in sheets)
    for name, caption in zip(sheets, captions, strict=True):
        first = next(workbook[name].iter_rows(max_row=1, values_only=True))
        assert html_escape(first[0]) == caption, name
    # the summary's numbers are numbers, equal to summarize's; intervals are three columns
    rows = list(workbook["summary-severe"].iter_rows(values_only=True))
    header, data = rows[1], rows[2:]
    assert header[:3] == ("policy", "expected loss", "± s.e.")
    assert header[6:9] == ("Δ expected loss vs standard (pp)",
                           "Δ expected loss vs standard (pp): low",
                           "Δ expected loss vs standard (pp): high")  # fmt: skip
    summary = summarize(results, levels=(0.99,))
    assert [r[0] for r in data] == POLICIES
    for r in data:
        at = {"scenario": "severe", "policy": r[0]}
        assert r[1] == pytest.approx(float(summary["expected_loss"].sel(at)), rel=1e-12)
        assert r[3] == pytest.approx(float(summary["es"].sel({**at, "level": 0.99})), rel=1e-12)
    grace = data[POLICIES.index("grace")]
    assert isinstance(grace[6], float) and grace[7] <= grace[6] <= grace[8]
    assert data[POLICIES.index("standard")][6] == "baseline"
    # a month-by-month table, folded on the page, is a whole sheet
    months = list(workbook["liquidity-severe-grace"].iter_rows(values_only=True))
    assert len(months) == 2 + results.sizes["month"]
    assert [m[0] for m in months[2:]] == list(range(1, results.sizes["month"] + 1))
    workbook.close()
    assert not list(book.parent.glob(".*.tmp"))
    bad = cli("report", results_file, "--out", out, "--xlsx", tmp_path / "t.csv")
    assert bad.exit_code == 2 and "ending in .xlsx" in bad.output


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
    " document.querySelectorAll('details').forEach(d => { d.open = true; });"
    " const wide = [...document.querySelectorAll('body *')].filter(e => e.tagName !== 'PRE'"
    " && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline')"
    " .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : ''));"
    " const d = document.createElement('div'); d.id = 'render-check';"
    " d.textContent = 'images=' + imgs.length + ' broken=' + imgs.filter(i => !(i.complete &&"
    " i.naturalWidth > 0)).length + ' sizes=' + imgs.map(i => i.naturalWidth + 'x' +"
    " i.naturalHeight).join(',') + ' height=' + document.documentElement.scrollHeight +"
    " ' page=' + document.documentElement.scrollWidth + ' wide=' + wide.join(',');"
    " document.body.appendChild(d); });</script>"
)
"""A test-only script added to a copy of the page: once it has loaded, with every folded table
unfolded, it reports the images, the page's height and width, and every element whose content
is wider than its box (text clipped or spilling out; ``<pre>`` blocks scroll by design)."""
WIDTHS = (1280, 800)
"""Browser window widths (px): a laptop, and a narrow window or a tablet."""
FIRST_SCREEN = 900
"""Height (px) of the first-screen screenshots."""


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    chromium = shutil.which("chromium")
    assert chromium, (
        "chromium is not on PATH: the browser test needs Debian's chromium package, which "
        "scripts/setup-and-test installs (apt-get install chromium)"
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
    """At 1280 and 800 px: no broken image, no text wider than its box, nothing wider than the
    window; screenshots of the first screen and of the whole page (every table unfolded in
    the probe, folded in the screenshots) are saved as artifacts."""
    html, _ = page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = ARTIFACTS / "report.html"
    report.write_text(html, encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    sizes = [f"{w}x{h}" for _, w, h, _ in IMG.findall(html)]
    for width in WIDTHS:
        # the rendered DOM: every heading, every image decoded at its size, nothing too wide
        dom = _chromium([f"--window-size={width},{FIRST_SCREEN}", "--dump-dom", probed.as_uri()],
                        tmp_path / f"profile-dom-{width}")  # fmt: skip
        assert dom.returncode == 0, dom.stderr
        assert _page_errors(dom.stderr) == [], dom.stderr
        for heading in ("Summary", *(f"Scenario {s}" for s in SCENARIOS), "Provenance"):
            assert f"<h2>{heading}</h2>" in dom.stdout
        for p in POLICIES:
            assert f"<h4>Policy {p}</h4>" in dom.stdout
        check = re.search(r'<div id="render-check">images=(\d+) broken=(\d+) sizes=([^ ]*) '
                          r"height=(\d+) page=(\d+) wide=([^<]*)</div>", dom.stdout)  # fmt: skip
        assert check, "the probe did not run: the page did not finish loading"
        assert (int(check[1]), int(check[2]), check[3].split(",")) == (len(sizes), 0, sizes)
        assert check[6] == "", f"at {width} px, content wider than its box: {check[6]}"
        assert int(check[5]) <= width, f"at {width} px the page is {check[5]} px wide"
        # what a reader sees: the first screen, and the whole page
        for name, height in (("first-screen", FIRST_SCREEN), ("page", int(check[4]))):
            screenshot = ARTIFACTS / f"report-{width}px-{name}.png"
            screenshot.unlink(missing_ok=True)
            shot = _chromium([f"--screenshot={screenshot}", f"--window-size={width},{height}",
                              "--hide-scrollbars", report.as_uri()],
                             tmp_path / f"profile-{width}-{name}")  # fmt: skip
            print(f"screenshot: {screenshot}")
            assert shot.returncode == 0, shot.stderr
            assert _page_errors(shot.stderr) == [], shot.stderr
            pixels = mpimg.imread(screenshot, format="png")
            assert pixels.shape[:2] == (height, width)
            assert pixels[..., :3].std() > 0.05, f"the screenshot {screenshot} is blank"
    print(f"report: {report}")
