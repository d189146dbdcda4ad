"""Scale-out and resumable runs (SPEC 5, 8): a real Dask ``LocalCluster`` (worker processes,
loopback only) gives the in-process Dataset bit for bit, with one or two workers and when
workers die mid-run; a run killed mid-way and resumed gives the same Dataset and recomputes only
the blocks that were not saved."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr
from distributed import Client, LocalCluster

from simulator import InputError, synthetic_portfolio
from simulator.run import BLOCK_PATHS, simulate
from simulator.run.store import MANIFEST

SCENARIOS = ["baseline", "severe"]
POLICIES = ["standard", "harsh-collections"]
COMPUTED = re.compile(r"computed block (\S+) paths (\d+)-(\d+)")


def same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Identical data, coordinates and attributes, but for the creation time."""
    xr.testing.assert_identical(a.drop_attrs(deep=False), b.drop_attrs(deep=False))
    assert {k: v for k, v in a.attrs.items() if k != "created"} == {
        k: v for k, v in b.attrs.items() if k != "created"
    }


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two worker processes with one thread each, on 127.0.0.1."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # a free port: tests may run side by side
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def book():
    return synthetic_portfolio(2_000, seed=11)


def run(book, **options) -> xr.Dataset:
    return simulate(book, SCENARIOS, POLICIES, paths=12, horizon=12, seed=5, **options)


@pytest.fixture(scope="module")
def reference(book) -> xr.Dataset:
    return run(book)


def test_two_workers_give_the_in_process_dataset(client: Client, book, reference) -> None:
    seen: list[tuple[int, int]] = []
    ds = run(book, client=client, block_paths=5, progress=lambda d, t: seen.append((d, t)))
    same(reference, ds)
    assert seen == [(d, 12) for d in range(1, 13)]  # 2 scenarios x 2 policies x 3 blocks


@pytest.mark.filterwarnings("ignore::simulator.metrics.weighted.TailWeightWarning")  # 12 paths
def test_a_tail_sampled_run_on_two_workers_is_the_in_process_run(client: Client, book) -> None:
    """Tail sampling (SPEC 13): the shift is fitted where simulate is called and travels with
    the inputs, so the workers' weighted blocks are the in-process ones bit for bit."""
    from simulator.metrics import summarize
    from simulator.tail import TailSampling

    tail = TailSampling("loss", pilot=32)
    in_process = run(book, tail=tail)
    on_cluster = run(book, tail=tail, client=client, block_paths=5)
    same(in_process, on_cluster)
    assert not (on_cluster["weight"] == 1.0).all()
    xr.testing.assert_identical(summarize(in_process, levels=(0.9,)),
                                summarize(on_cluster, levels=(0.9,)))  # fmt: skip


def test_a_bad_input_found_on_a_worker_is_the_same_input_error(client: Client, book) -> None:
    """Errors raised in a task travel back whole (InputError pickles with its arguments)."""
    with pytest.raises(InputError, match="threads must be from 1 to"):
        run(book, client=client, threads=10_000)


def test_one_worker_from_the_cli_writes_the_in_process_file(cli, tmp_path: Path) -> None:
    common = ["run", "--synthetic", "500", "--scenario", "adverse", "--paths", "9"]
    common += ["--horizon", "6", "--seed", "2", "--block-paths", "4"]
    local = cli(*common, "--out", tmp_path / "local.nc", "--quiet")
    assert local.exit_code == 0, local.output
    dask = cli(*common, "--out", tmp_path / "dask.nc", "--workers", "1")
    assert dask.exit_code == 0, dask.output
    assert "Dask dashboard: http://127.0.0.1:" in dask.output
    assert not (tmp_path / "dask.nc.blocks").exists()  # removed once the file is written
    with xr.open_dataset(tmp_path / "local.nc") as a, xr.open_dataset(tmp_path / "dask.nc") as b:
        same(a.load(), b.load())


def test_workers_and_scheduler_are_exclusive_and_resume_needs_out(cli, bad_input) -> None:
    result = cli("run", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786")
    bad_input(result, "either --workers or --scheduler")
    bad_input(cli("run", "--resume"), "--resume needs --out")
    assert f"default {BLOCK_PATHS}" in cli("run", "--help").output


def _kill_busy_worker(client: Client, how_many: int) -> list[int]:
    """SIGKILL ``how_many`` worker processes, those with a task running first."""
    pids = client.run(os.getpid)
    busy = sorted(pids, key=lambda address: not client.processing().get(address))
    for address in busy[:how_many]:
        os.kill(pids[address], signal.SIGKILL)
    return [pids[address] for address in busy[:how_many]]


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_nothing(client: Client, book, reference) -> None:
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if done == 2:
            killed.extend(_kill_busy_worker(client, 1))

    ds = run(book, client=client, block_paths=1, progress=progress)
    same(reference, ds)
    assert killed and killed[0] not in client.run(os.getpid).values()


@pytest.mark.slow
def test_all_workers_lost_at_once_changes_nothing(client: Client, book, reference, caplog) -> None:
    """The scattered inputs die with every worker: they are sent again to the restarted ones."""
    client.wait_for_workers(2)

    def progress(done: int, total: int) -> None:
        if done == 3:
            _kill_busy_worker(client, 2)

    with caplog.at_level(logging.WARNING, logger="simulator"):
        ds = run(book, client=client, block_paths=1, progress=progress)
    same(reference, ds)
    assert "sending them again" in caplog.text


RESUMABLE = ["run", "--synthetic", "40000", "--scenario", "baseline", "--scenario", "adverse"]
RESUMABLE += ["--paths", "64", "--block-paths", "4", "--seed", "4", "--quiet"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_and_computes_only_the_missing_blocks(
    cli, tmp_path: Path, caplog
) -> None:
    out = tmp_path / "results.nc"
    blocks = tmp_path / "results.nc.blocks"
    child = subprocess.Popen(
        [sys.executable, "-m", "simulator", *RESUMABLE, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(blocks.glob("block-*.npz"))) < 3:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "no blocks saved"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        if child.stderr:
            child.stderr.close()
    assert not out.exists()
    saved = {p.name for p in blocks.glob("block-*.npz")}
    assert 3 <= len(saved) < 32  # 2 scenarios x 16 blocks

    refused = cli(*RESUMABLE, "--out", out)  # without --resume: told what to do
    assert refused.exit_code == 2 and "pass --resume" in refused.output

    with caplog.at_level(logging.INFO, logger="simulator"):
        resumed = cli(*RESUMABLE, "--out", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert not blocks.exists()
    computed = set()
    for run_name, first, last in COMPUTED.findall(caplog.text):
        scenario = ["baseline", "adverse"].index(run_name.split("/")[0])
        assert int(last) == int(first) + 3
        computed.add(f"block-{scenario}-0-{first}.npz")
    assert len(computed) == 32 - len(saved)
    assert computed.isdisjoint(saved)  # only the missing blocks were computed

    fresh = simulate(40_000, ["baseline", "adverse"], ["standard"], paths=64, seed=4)
    with xr.open_dataset(out) as ds:
        same(fresh, ds.load())


def test_resume_refuses_changed_inputs_and_a_stale_run_directory(
    cli, bad_input, small_book_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.nc"
    options = ["run", "--portfolio", small_book_csv, "--scenario", "severe", "--paths", "4"]
    options += ["--horizon", "3", "--out", out, "--quiet"]
    # an interrupted run: its run directory holds a manifest and finished blocks
    simulate(small_book_csv, ["severe"], paths=4, horizon=3, run_dir=f"{out}.blocks")
    assert (tmp_path / "r.nc.blocks" / MANIFEST).exists()

    bad_input(cli(*options, "--seed", "1", "--resume"), "cannot resume", "the seed (0 -> 1)")
    bad_input(cli(*options, "--horizon", "4", "--resume"), "the horizon (3 -> 4)")
    bad_input(cli(*options, "--policy", "harsh-collections", "--resume"), "the policies")
    bad_input(cli(*options, "--seed", "1"), "other inputs", "Remove the directory")
    bad_input(cli(*options), "pass --resume")

    resumed = cli(*options, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert out.exists() and not (tmp_path / "r.nc.blocks").exists()


def test_an_empty_run_directory_is_taken_over(cli, tmp_path: Path) -> None:
    (tmp_path / "r.nc.blocks").mkdir()
    (tmp_path / "r.nc.blocks" / ".manifest.json.x.tmp").write_text("{")
    result = cli("run", "--synthetic", "50", "--paths", "2", "--horizon", "2", "--quiet",
                 "--out", tmp_path / "r.nc")  # fmt: skip
    assert result.exit_code == 0, result.output
