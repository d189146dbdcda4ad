"""Why a policy wins: its mechanisms at work (SPEC 11), per scenario and policy.

Each figure is a pooled ratio over every path and month of the run (events summed, then
divided), or a mean count per path:

* offers made per path (settlement, re-instalment, holiday, early warning) and their take-up:
  settlements per settlement offer, applications per re-instalment offer, approvals (loans
  re-instalmented) per application, holidays started per holiday offer;
* ``grace_covered_share``: of the Day-1 misses paid within the month, the share the grace days
  covered (not reported overdue);
* the payment KPIs lenders publish: ``day1_delinquency_rate`` and ``collection_rate_30d``;
* ``redefault_3/6/12``: re-instalmented loans 30+ DPD (charged off included) 3, 6 and 12 months
  after; ``holiday_current_share``: holiday loans current three months after the holiday;
* ``settlement_recovery``: settlement cash over the settled balance; ``legal_success``:
  judgements won over judgements.

A ratio with nothing to count (a policy without that lever) is NaN. Under tail sampling the
sums are weighted by the paths' likelihood ratios (``weight``), so the figures estimate
the same quantities as a plain run.
"""

from __future__ import annotations

import xarray as xr

from simulator.variables import MONTH, PATH

MONTHS_SINCE = "months_since_restructuring"

OFFERS = {
    # diagnostic: (numerator, denominator) summed over paths and months
    "settlement_take_up": ("settlements", "settlement_offers"),
    "reinstal_take_up": ("reinstal_applications", "reinstal_offers"),
    "reinstal_approval": ("restructured", "reinstal_applications"),
    "holiday_take_up": ("holidays_started", "holiday_offers"),
    "day1_delinquency_rate": ("day1_unpaid", "due_amount"),
    "collection_rate_30d": ("collected_30d", "day1_unpaid"),
    "settlement_recovery": ("settlement_cash", "settled_balance"),
    "legal_success": ("legal_wins", "legal_judgements"),
}
COUNTS = ("settlement_offers", "reinstal_offers", "holiday_offers", "early_warning_offers",
          "grace_cures", "legal_judgements")  # fmt: skip
"""Mean events per path over the horizon."""


def _weights(ds: xr.Dataset) -> xr.DataArray:
    """Each path's weight (1 for a plain run), normalised to mean 1 per scenario."""
    if "weight" not in ds:
        return xr.ones_like(ds[PATH], dtype=float)
    w = ds["weight"]
    return w / w.mean(PATH)


def _pooled(numerator: xr.DataArray, denominator: xr.DataArray, w: xr.DataArray) -> xr.DataArray:
    top = (numerator * w).sum(PATH)
    bottom = (denominator * w).sum(PATH)
    return top / bottom.where(bottom > 0)


def diagnostics(ds: xr.Dataset) -> xr.Dataset:
    """The mechanism diagnostics (scenario, policy) of a run's Dataset (module docstring)."""
    w = _weights(ds)
    out = xr.Dataset()
    for name in COUNTS:
        out[f"{name}_per_path"] = (ds[name].sum(MONTH) * w).mean(PATH)
    for name, (top, bottom) in OFFERS.items():
        out[name] = _pooled(ds[top].sum(MONTH), ds[bottom].sum(MONTH), w)
    cures = ds["grace_cures"].sum(MONTH)  # paid within the grace days
    paid_late = cures + ds["early_contacts"].sum(MONTH)  # or after them, before the month end
    out["grace_covered_share"] = _pooled(cures, paid_late, w)
    loans = ds["redefault_loans"].sel(kind="dpd_30_plus")
    for m in ds[MONTHS_SINCE].values:
        at = {MONTHS_SINCE: m}
        out[f"redefault_{int(m)}"] = _pooled(
            loans.sel(at, drop=True), ds["restructured_observed"].sel(at, drop=True), w
        )
    out["holiday_current_share"] = _pooled(
        ds["holiday_current_share"].fillna(0) * ds["holiday_observed"], ds["holiday_observed"], w
    )
    return out.drop_vars([c for c in out.coords if c not in out.dims])
