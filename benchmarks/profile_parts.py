"""Where the engine's time goes, per live borrower-month: each part of its loop timed alone.

``python -m benchmarks.profile_parts [--loans N] [--paths N] [--rounds N] [--json PATH]``

Linux ``perf`` has no hardware counters on the shared VM and cannot name the frames of jitted
code, so the loop is taken apart instead (issue #16). One Numba thread throughout, so that
figures are nanoseconds per live borrower-month *per thread*:

* **whole loops** on one block of the default book (``adverse``, ``standard``, ``run-off``):
  ``simulate`` end to end with provisions and capital, the engine's kernel with and without
  provisions, and the bound kernel (``benchmarks/bound.py``), each time over the block's live
  borrower-months (those of the engine's ``active_accounts``);
* **parts alone**: a trace of live borrower-months recorded in the engine's order (each
  chunk's loans sorted as ``loan_order`` sorts them, path by path, month by month), with the
  values the loop holds at that point (principal, accrued interest, state, the draw, the
  instalments paid), small enough to stay in cache beside the tables, is run through one part
  of the loop at a time: the Philox4x32-10 draw, the transition-row lookup (the engine's
  worst-first scan, and the bound's branch-free count), the fen interest and principal update,
  the engine's accumulations (flows and stocks by segment and state) and the bound's two words,
  and the provisions lookup (``book_provisions``: stage, ECL read from the flat tables and
  interpolated at the path's factor, the ledger). Every kernel reads the whole trace item and
  folds it into a checksum, and a kernel that does only that (``loop``) is subtracted: a part's
  figure is the work of that part, without the loads that stand in for the loop's registers.

Recovery months (a charged-off loan draws once a month until it recovers or the window ends)
are counted in the same pass: their draws are Philox calls the bound does not make. Parts
alone overlap less than in the real loop (nothing else to hide their latency behind), and what
they do not cover - branches between them, spills, the loop's own bookkeeping - shows as the
difference between the engine's kernel and the sum of the parts.

Interleaved rounds, the fastest of each (the machine is shared: a neighbour only ever adds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/profile_parts.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from benchmarks import common
from benchmarks.bound import step
from simulator.accelerate import inline_jit, jit
from simulator.engine.kernel_numba import book_provisions, payment
from simulator.engine.layout import (
    ACCOUNTS,
    ACTIVE_ACCOUNTS,
    BALANCE,
    COLLECTED_INTEREST,
    COLLECTED_PRINCIPAL,
    DELINQUENT_ACCOUNTS,
    PURPOSE_BORROWER,
)
from simulator.rng import philox4x32_10
from simulator.states import CHARGED_OFF, CURRENT, M1

TRACE_ITEMS = 4096
"""Live borrower-months in the trace: 4096 x 14 words, about 460 KB, in L2 with the tables."""
PASSES = 20
"""Passes over the trace per timing (about 0.8 million borrower-months)."""
MISS = 6

# the trace's columns (int64): where the loop is at the start of a live borrower-month
LOAN, PATH, B, T, SEGMENT, TIER, MATRIX, STATE, PRINCIPAL, ACCRUED, TERM, INSTALMENT = range(12)
WORD0, WORD1, PAID, END_STATE, CLOSES, RESTRUCTURINGS, PREVIOUS = range(12, 19)
COLUMNS = 19


@jit
def _record(book_segment, book_tier, book_principal, book_monthly_rate, book_term,
            book_instalment, book_state, book_restructured, order, first_path, transitions,
            prepay, penalty_multiplier, key0, key1, stream, recovery_hazard, recovery_window,
            stage_2, stage_3, items, rates):  # fmt: skip
    """The bound's loop (the engine's, for the standard policy), serial, in the engine's order:
    the first ``len(items)`` live borrower-months into ``items`` and ``rates``; returns the
    block's live borrower-months and recovery draws."""
    recorded, live, recovery_draws = 0, 0, 0
    for b in range(transitions.shape[0]):
        path, transition = first_path + b, transitions[b]
        for loan in order:
            segment, tier = book_segment[loan], book_tier[loan]
            principal, rate = book_principal[loan], book_monthly_rate[loan]
            term, instalment = book_term[loan], book_instalment[loan]
            state = book_state[loan]
            matrix = 1 if book_restructured[loan] > 0 else 0
            accrued = np.int64(0)
            charged_off_at = -1
            for t in range(transition.shape[0]):
                live += 1
                at = recorded
                if at < len(items):
                    item = items[at]
                    item[LOAN], item[PATH], item[B], item[T] = loan, path, b, t
                    item[SEGMENT], item[TIER], item[MATRIX], item[STATE] = (
                        segment,
                        tier,
                        matrix,
                        state,
                    )
                    item[PRINCIPAL], item[ACCRUED], item[TERM] = principal, accrued, term
                    item[INSTALMENT] = instalment
                    item[RESTRUCTURINGS] = book_restructured[loan]
                    item[PREVIOUS] = 2 if state >= stage_3 else (1 if state >= stage_2 else 0)
                    rates[at] = rate
                    recorded += 1
                monthly = rate if state == CURRENT else rate * penalty_multiplier
                accrued += np.int64(np.rint(principal * monthly))
                due = term > 0
                if due:
                    term -= 1
                w0, w1, _, _ = philox4x32_10(
                    loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1
                )
                closes, paid = 0, 0
                if state == CURRENT and np.int64(w0) < prepay[segment]:
                    closes = 1
                else:
                    row = transition[t, segment, tier, matrix, state]
                    state, paid = step(row, np.int64(w1), state, due)
                    if paid > 0:
                        interest_part, principal_part = payment(
                            paid, instalment, principal, accrued, state == CURRENT and term == 0
                        )
                        accrued -= interest_part
                        principal -= principal_part
                        if principal == 0 and accrued == 0:
                            closes = 1
                    if state == CHARGED_OFF:
                        closes, charged_off_at = 1, t
                if at < len(items):
                    items[at, WORD0], items[at, WORD1] = w0, w1
                    items[at, PAID], items[at, END_STATE], items[at, CLOSES] = paid, state, closes
                if closes:
                    break
            if charged_off_at >= 0:  # the engine's agency recovery: a draw a month
                for t in range(charged_off_at + 1, transition.shape[0]):
                    if t - charged_off_at > recovery_window:
                        break
                    recovery_draws += 1
                    w0, _, _, _ = philox4x32_10(
                        loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1
                    )
                    if np.int64(w0) < recovery_hazard:
                        break
    return recorded, live, recovery_draws


@inline_jit
def _fold(item):
    """What every part kernel does with an item: load all of it (the loop's registers)."""
    return (item[LOAN] ^ item[PATH] ^ item[B] ^ item[T] ^ item[SEGMENT] ^ item[TIER]
            ^ item[MATRIX] ^ item[STATE] ^ item[PRINCIPAL] ^ item[ACCRUED] ^ item[TERM]
            ^ item[INSTALMENT] ^ item[WORD0] ^ item[WORD1] ^ item[PAID] ^ item[END_STATE]
            ^ item[CLOSES] ^ item[RESTRUCTURINGS] ^ item[PREVIOUS])  # fmt: skip


@jit
def _loop(items, rates, passes):
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            sink += _fold(items[i]) + np.int64(rates[i] > 0.5)
    return sink


@jit
def _philox(items, rates, passes, key0, key1, stream):
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            sink += _fold(item) + np.int64(rates[i] > 0.5)
            w0, w1, w2, w3 = philox4x32_10(
                item[LOAN], item[PATH], (item[T] << 4) | PURPOSE_BORROWER, stream, key0, key1
            )
            sink += np.int64(w0 ^ w1 ^ w2 ^ w3)
    return sink


@jit
def _lookup_engine(items, rates, passes, transitions):
    """The engine's lookup: the miss threshold of a current row, else worst first until the
    word is below a threshold."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            sink += _fold(item) + np.int64(rates[i] > 0.5)
            row = transitions[item[B], item[T], item[SEGMENT], item[TIER], item[MATRIX],
                              item[STATE]]  # fmt: skip
            word = item[WORD1]
            destination = CURRENT
            if item[STATE] == CURRENT:
                destination = CURRENT if word >= row[MISS] else M1
            else:
                for w in range(row.shape[0]):
                    if word < row[w]:
                        destination = CHARGED_OFF - w
                        break
            sink += destination
    return sink


@jit
def _lookup_bound(items, rates, passes, transitions):
    """The bound's lookup: the miss threshold of a current row, else a branch-free count."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            sink += _fold(item) + np.int64(rates[i] > 0.5)
            row = transitions[item[B], item[T], item[SEGMENT], item[TIER], item[MATRIX],
                              item[STATE]]  # fmt: skip
            word = item[WORD1]
            if item[STATE] == CURRENT:
                sink += 0 if word >= row[MISS] else M1
            else:
                passed = 0
                for w in range(row.shape[0]):
                    passed += 1 if row[w] <= word else 0
                sink += CHARGED_OFF - passed
    return sink


@jit
def _fen(items, rates, passes, penalty_multiplier):
    """The engine's fen update: interest (and penalty interest when delinquent), the term, the
    payment of the instalments paid (accrued interest first), the balance."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            rate = rates[i]
            sink += _fold(item) + np.int64(rate > 0.5)
            principal, accrued, term = item[PRINCIPAL], item[ACCRUED], item[TERM]
            penalty = accrued
            interest = np.int64(np.rint(principal * rate))
            if item[STATE] != CURRENT:
                with_penalty = np.int64(np.rint(principal * (rate * penalty_multiplier)))
                penalty += with_penalty - interest
                interest = with_penalty
            accrued += interest
            if term > 0:
                term -= 1
            if item[PAID] > 0:
                interest_part, principal_part = payment(
                    item[PAID], item[INSTALMENT], principal, accrued,
                    item[END_STATE] == CURRENT and term == 0,
                )  # fmt: skip
                accrued -= interest_part
                penalty = min(penalty, accrued)
                principal -= principal_part
            sink += principal ^ accrued ^ penalty ^ term
    return sink


@jit
def _accumulate_engine(items, rates, passes, flows, stocks):
    """The engine's adds of a live borrower-month into flows (B, H, G, F) and stocks
    (B, H, G, S, 2), branch-free (an add of 0 where the engine skips one): the memory work
    alone, the outcomes' branches being the loop's."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            sink += _fold(item) + np.int64(rates[i] > 0.5)
            flow, stock = flows[item[B], item[T], item[SEGMENT]], stocks[item[B], item[T]]
            paid, still_open = np.int64(item[PAID] > 0), 1 - item[CLOSES]
            flow[ACTIVE_ACCOUNTS] += 1
            flow[DELINQUENT_ACCOUNTS] += np.int64(item[STATE] != CURRENT)
            flow[COLLECTED_INTEREST] += paid * item[ACCRUED]
            flow[COLLECTED_PRINCIPAL] += paid * item[INSTALMENT]
            stock[item[SEGMENT], item[END_STATE], BALANCE] += still_open * item[PRINCIPAL]
            stock[item[SEGMENT], item[END_STATE], ACCOUNTS] += still_open
    return sink


@jit
def _accumulate_bound(items, rates, passes, out):
    """The bound's adds, per (path, month), branch-free: the account-month and the month-end
    principal."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            sink += _fold(item) + np.int64(rates[i] > 0.5)
            acc = out[item[B], item[T]]
            acc[1] += 1
            acc[0] += (1 - item[CLOSES]) * item[PRINCIPAL]
    return sink


@jit
def _provisions(items, rates, passes, lifetime, twelve, reference, rules, factor_index,
                factor_weight, ledger, flows):  # fmt: skip
    """The engine's provisions of a month-end on the book: ``book_provisions`` as inlined into
    the kernel (stage, ECL from the flat tables at the path's factor, the ledger), over the
    trace's items that stay open (the caller passes only those)."""
    sink = np.int64(0)
    for _ in range(passes):
        for i in range(len(items)):
            item = items[i]
            rate = rates[i]
            sink += _fold(item) + np.int64(rate > 0.5)
            b, t = item[B], item[T]
            sink += book_provisions(
                lifetime, twelve, reference, rules, ledger[b], flows[b], t, item[SEGMENT],
                item[TIER], item[MATRIX], item[END_STATE], item[TERM], item[PRINCIPAL], rate,
                factor_index[b, t], factor_weight[b, t], item[RESTRUCTURINGS], 1 << 30,
                item[PREVIOUS],
            )  # fmt: skip
    return sink


@dataclass(frozen=True)
class Block:
    """One block of paths of the default book, as ``simulate`` builds it, provisions on."""

    inputs: Any  # RunInputs
    tables: Any  # Tables with the provisions tables
    loans: int
    paths: int


def block(loans: int, paths: int) -> Block:
    from simulator.engine.tables import build_tables
    from simulator.run.blocks import provisions_of
    from simulator.run.inputs import resolve_inputs

    run = resolve_inputs(
        common.book(loans), [common.scenario()], [common.policy(common.STANDARD)],
        model=common.model(), treasury=common.TREASURY, horizon=24, seed=0, engine="numba",
        provisions=True,
    )  # fmt: skip
    inputs = run.inputs
    provisions, _ = provisions_of(inputs, 0, 0)
    tables = build_tables(inputs.model, inputs.scenarios[0], inputs.policies[0],
                          seed=inputs.seed, paths=range(paths), horizon=inputs.horizon,
                          probits=inputs.probits[0], levers=inputs.levers[0], pool=inputs.pool,
                          provisions=provisions)  # fmt: skip
    return Block(inputs, tables, loans, paths)


def trace(blk: Block) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(items, rates, live borrower-months, recovery draws) of the block, one chunk per
    thread's worth of loans in the engine's order (the trace starts at the first chunk)."""
    from simulator.engine.kernel_numba import loan_order
    from simulator.provisions.tables import kernel_rules
    from simulator.run.blocks import chunk_count

    book, tables = blk.inputs.book, blk.tables
    n = len(book.principal)
    bounds = np.linspace(0, n, chunk_count(None, common.ALL_THREADS, n) + 1).astype(np.int64)
    order = loan_order(book, bounds)
    rules = kernel_rules(tables.provisions)
    items = np.zeros((TRACE_ITEMS, COLUMNS), np.int64)
    rates = np.zeros(TRACE_ITEMS, np.float64)
    recorded, live, recovery = _record(
        book.segment, book.tier, book.principal, book.monthly_rate, book.remaining_term,
        book.instalment, book.state, book.restructured, order, tables.first_path,
        tables.transition, tables.prepay, tables.penalty_multiplier, tables.key[0],
        tables.key[1], tables.stream, tables.recovery_hazard, tables.recovery_window,
        int(rules[1]), int(rules[2]), items, rates,
    )  # fmt: skip
    return items[:recorded], rates[:recorded], int(live), int(recovery)


def parts(blk: Block, items: np.ndarray, rates: np.ndarray) -> dict[str, Callable[[], object]]:
    """Each part of the loop as a call over the trace (``loop``: the loads alone)."""
    from simulator.engine.layout import N_FLOWS, N_LEDGER, N_STOCKS
    from simulator.provisions.tables import kernel_rules
    from simulator.states import STATES

    tables = blk.tables
    B, H, G = tables.z.shape
    T = len(tables.levers.grace_days)
    prov = tables.provisions
    flows = np.zeros((B, H, G, N_FLOWS), np.int64)
    stocks = np.zeros((B, H, G, len(STATES), N_STOCKS), np.int64)
    ledger = np.zeros((B, H, G, T, N_LEDGER), np.int64)
    out = np.zeros((B, H, 2), np.int64)
    rules = tuple(kernel_rules(prov).tolist())
    k0, k1, stream = tables.key[0], tables.key[1], tables.stream
    lower, weight = tables.factor_position.lower, tables.factor_position.weight
    lifetime, twelve = prov.lifetime.ravel(), prov.twelve_month.ravel()
    reference = prov.reference_rate.ravel()
    still_open = items[:, CLOSES] == 0
    open_items, open_rates = items[still_open], rates[still_open]
    return {
        "loop": lambda: _loop(items, rates, PASSES),
        "loop_open": lambda: _loop(open_items, open_rates, PASSES),
        "philox": lambda: _philox(items, rates, PASSES, k0, k1, stream),
        "lookup_engine": lambda: _lookup_engine(items, rates, PASSES, tables.transition),
        "lookup_bound": lambda: _lookup_bound(items, rates, PASSES, tables.transition),
        "fen": lambda: _fen(items, rates, PASSES, tables.penalty_multiplier),
        "accumulate_engine": lambda: _accumulate_engine(items, rates, PASSES, flows, stocks),
        "accumulate_bound": lambda: _accumulate_bound(items, rates, PASSES, out),
        "provisions": lambda: _provisions(
            open_items,
            open_rates,
            PASSES,
            lifetime,
            twelve,
            reference,
            rules,
            lower,
            weight,
            ledger,
            flows,
        ),
    }


def loops(blk: Block) -> dict[str, Callable[[], object]]:
    """The whole loops over the block (one Numba thread is set by the caller)."""
    from benchmarks.bound import BoundInputs, run_bound
    from benchmarks.engine import accumulators
    from simulator.engine import kernel_numba
    from simulator.engine.kernel_numba import new_ledger
    from simulator.provisions.tables import DISABLED

    book, tables = blk.inputs.book, blk.tables
    chunks = 4
    flows, stocks = accumulators(chunks, tables)
    ledger = new_ledger(flows.shape[:4], len(tables.levers.grace_days))
    without = replace(tables, provisions=DISABLED)
    bound = BoundInputs(book, (tables,), blk.paths, tables.horizon)
    portfolio = common.book(blk.loans)
    return {
        "simulate": lambda: common.run(portfolio, paths=blk.paths, months=24, threads=1),
        "kernel_provisions": lambda: kernel_numba.run_block(book, tables, flows, stocks, ledger),
        "kernel": lambda: kernel_numba.run_block(book, without, flows, stocks),
        "bound": lambda: run_bound(bound, chunks=chunks),
    }


def fastest(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """The fastest of ``rounds`` interleaved rounds of each call, after one warm-up each."""
    for call in calls.values():
        call()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def profile(loans: int, paths: int, rounds: int) -> dict[str, Any]:
    """ns per live borrower-month, per thread: the whole loops and each part alone."""
    import numba

    common.warm_up()
    blk = block(loans, paths)
    items, rates, live, recovery = trace(blk)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        whole = fastest(loops(blk), rounds)
        alone = fastest(parts(blk, items, rates), rounds)
    finally:
        numba.set_num_threads(previous)
    per_item = {k: v / (PASSES * len(items)) * 1e9 for k, v in alone.items()}
    base, base_open = per_item.pop("loop"), per_item.pop("loop_open")
    part_ns = {k: v - (base_open if k == "provisions" else base) for k, v in per_item.items()}
    part_ns["recovery_draws"] = part_ns["philox"] * recovery / live
    engine_parts = ("philox", "recovery_draws", "lookup_engine", "fen", "accumulate_engine")
    bound_parts = ("philox", "lookup_bound", "fen", "accumulate_bound")
    whole_ns = {k: v / live * 1e9 for k, v in whole.items()}
    remainder = {
        "kernel": whole_ns["kernel"] - sum(part_ns[k] for k in engine_parts),
        "kernel_provisions": whole_ns["kernel_provisions"]
        - sum(part_ns[k] for k in (*engine_parts, "provisions")),
        "bound": whole_ns["bound"] - sum(part_ns[k] for k in bound_parts),
    }
    return {
        "book": f"{loans:,} loans x {paths} paths x 24 months, one block, one thread",
        "live_borrower_months": live,
        "live_share_of_nominal": live / common.nominal(loans, paths, 24),
        "recovery_draws_per_live_month": recovery / live,
        "trace_items": len(items),
        "whole_ns": whole_ns,
        "loads_ns": base,
        "part_ns": part_ns,
        "remainder_ns": remainder,
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=50_000)
    parser.add_argument("--paths", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (fastest)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    result = profile(args.loans, args.paths, args.rounds)
    engine = result["whole_ns"]["kernel_provisions"]
    out = Table(
        title=f"ns per live borrower-month: {result['book']}",
        caption=f"live {result['live_share_of_nominal']:.1%} of nominal; "
        f"{result['recovery_draws_per_live_month']:.3f} recovery draws per live month; "
        f"loads of the trace {result['loads_ns']:.1f} ns (subtracted); "
        f"fastest of {result['rounds']} rounds",
    )
    for column in ("what", "ns", "of the engine's kernel"):
        out.add_column(column)
    rows = [
        *result["whole_ns"].items(),
        *result["part_ns"].items(),
        *((f"{k}: not in its parts", v) for k, v in result["remainder_ns"].items()),
    ]
    for name, ns in rows:
        out.add_row(name, f"{ns:.1f}", f"{ns / engine:.0%}")
    Console().print(out)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
