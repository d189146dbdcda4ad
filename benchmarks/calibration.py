"""Calibrating a panel: ``load_panel`` and ``fit`` of a loans x months Parquet panel (issue 14:
1,000,000 loans x 24 months in under a minute on the 2-core machine).

The panel is simulated once per machine by ``benchmarks.panels`` (the independent NumPy model
simulator; closed loans are replaced, so about 25 million loan-months) and kept in the temporary
directory. ``python -m benchmarks.calibration`` times one run and prints it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks import common
from benchmarks.panels import PanelSpec, simulate_panel


def panel_file(loans: int, months: int) -> Path:
    """The benchmark's panel as Parquet, written once per machine."""
    directory = Path(tempfile.gettempdir()) / "simulator-benchmarks"
    path = directory / f"panel-{loans}-{months}-v1.parquet"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        table = simulate_panel(common.model(), PanelSpec(loans=loans, months=months, seed=0)).table
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, partial)
        os.replace(partial, path)
    return path


def calibrate(path: Path) -> object:
    from simulator.calibration import fit
    from simulator.inputs.panel import load_panel

    model = common.model()
    return fit(load_panel(path, model), model)


class Calibrate:
    """Read, validate and calibrate a panel: time and peak memory."""

    params = ((1_000_000,), (24,))
    param_names = ("loans", "months")
    smoke_params = ((300,), (6,))
    timeout = 900
    warmup_time = 0.0
    number = 1
    repeat = 1

    def setup(self, loans: int, months: int) -> None:
        self.path = panel_file(loans, months)

    def time_calibrate(self, loans: int, months: int) -> None:
        calibrate(self.path)

    def peakmem_calibrate(self, loans: int, months: int) -> None:
        calibrate(self.path)


def main(argv: list[str]) -> None:
    loans, months = (int(a) for a in argv) if argv else (1_000_000, 24)
    path = panel_file(loans, months)
    rows = pq.ParquetFile(path).metadata.num_rows
    start, cpu = time.perf_counter(), time.process_time()
    calibrate(path)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{loans:,} loans x {months} months ({rows:,} loan-months): {elapsed:.1f} s "
        f"({cpu:.1f} s of CPU; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
