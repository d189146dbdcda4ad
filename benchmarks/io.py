"""Loading a loan tape: reading, validating and coding a 1,000,000-loan Parquet file.

The tape is ``common.book(loans)`` written once per machine to the temporary directory; reading
it back gives the same book (the same SHA-256).
"""

from __future__ import annotations

from benchmarks import common
from simulator.inputs.portfolio import load_portfolio
from simulator.inputs.synthetic import synthetic_portfolio


class LoadTape:
    """``load_portfolio`` of a Parquet tape: time and the process's peak memory."""

    params = ((1_000_000,),)
    param_names = ("loans",)
    smoke_params = ((300,),)
    warmup_time = 0.0

    def setup(self, loans: int) -> None:
        self.path = common.tape(loans)
        self.model = common.model()

    def time_load_portfolio(self, loans: int) -> None:
        load_portfolio(self.path, model=self.model)

    def peakmem_load_portfolio(self, loans: int) -> None:
        load_portfolio(self.path, model=self.model)


class Synthesize:
    """``synthetic_portfolio``: the default book of ``simulate(N)`` and ``portfolio synth``."""

    params = ((1_000_000,),)
    param_names = ("loans",)
    smoke_params = ((300,),)
    warmup_time = 0.0

    def setup(self, loans: int) -> None:
        self.model = common.model()

    def time_synthetic_portfolio(self, loans: int) -> None:
        synthetic_portfolio(loans, seed=0, model=self.model)
