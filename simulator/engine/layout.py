"""What a kernel accumulates, and where: the contract between kernels and aggregation.

A kernel call covers one block of paths and adds, per (chunk of loans, path in block, month,
segment), integers into two arrays:

``flows[chunk, path, month, segment, FLOW]``
    money in fen and event counts that happen during the month (see :data:`FLOWS`);
``stocks[chunk, path, month, segment, state, STOCK]``
    end-of-month principal (fen) and number of loans in each *active* state, and the number of
    loans *entering* each terminal state that month (aggregation turns those into stocks with a
    cumulative sum, so that a closed loan costs nothing in later months).

Everything is int64, so sums are exact and do not depend on the order of addition: any chunking
and any thread count give the same totals.
"""

from __future__ import annotations

FLOWS: tuple[str, ...] = (
    "collected_interest",
    "collected_principal",
    "prepaid_principal",
    "settled_principal",
    "settlement_cash",
    "settlement_loss",
    "recoveries",
    "recovery_fees",
    "chargeoff_principal",
    "chargeoff_interest",
    "capitalised_interest",
    "waived_interest",
    "originated_principal",
    "legal_cost",
    "mediation_fee",
    "delinquent_accounts",
    "active_accounts",
    "restructured",
    "grace_cures",
    "holidays_started",
    "settlements",
    "legal_cases",
    "new_serious_delinquencies",
    # provisions (see the ledger below): the rare entries, by segment
    "probation_accounts",
    *(f"category_raised_from_{c}" for c in range(5)),
    *(f"category_raised_to_{c}" for c in range(5)),
    *(f"stage_transfer_{a}_{b}" for a in range(3) for b in range(3)),
    "new_accounts",
    # payments between the due date and the month end (SPEC 11): money, then counts
    "due_amount",
    "day1_unpaid",
    "collected_30d",
    "late_interest",
    "reported_overdue",
    "early_contacts",
    # what the policy offered, and how it went
    "settlement_offers",
    "settled_balance",
    "reinstal_offers",
    "reinstal_applications",
    "holiday_offers",
    "early_warning_offers",
    "legal_judgements",
    "legal_wins",
    # re-instalmented loans 30+ DPD (charged off included) and charged off 3, 6 and 12 months
    # after the re-instalment, counted in the month they are observed; holiday loans current
    # three months after the holiday
    "redefault_30_3",
    "redefault_30_6",
    "redefault_30_12",
    "redefault_co_3",
    "redefault_co_6",
    "redefault_co_12",
    "holiday_current_3",
    # the vintage curve of the horizon's new loans: their principal 31-180 DPD at the end of
    # their m-th month on book, kept in row m - 1 of the month axis (months on book, not the
    # calendar month)
    "vintage_dpd30_balance",
)
"""Per-month flows: money in fen, then account-months and event counts."""

FLOW = {name: i for i, name in enumerate(FLOWS)}
N_FLOWS = len(FLOWS)

STOCKS: tuple[str, ...] = ("balance", "accounts")
BALANCE, ACCOUNTS = 0, 1
N_STOCKS = len(STOCKS)

# Flow indices as plain module constants, for use inside kernels (Numba freezes globals).
COLLECTED_INTEREST = FLOW["collected_interest"]
COLLECTED_PRINCIPAL = FLOW["collected_principal"]
PREPAID_PRINCIPAL = FLOW["prepaid_principal"]
SETTLED_PRINCIPAL = FLOW["settled_principal"]
SETTLEMENT_CASH = FLOW["settlement_cash"]
SETTLEMENT_LOSS = FLOW["settlement_loss"]
RECOVERIES = FLOW["recoveries"]
RECOVERY_FEES = FLOW["recovery_fees"]
CHARGEOFF_PRINCIPAL = FLOW["chargeoff_principal"]
CHARGEOFF_INTEREST = FLOW["chargeoff_interest"]
CAPITALISED_INTEREST = FLOW["capitalised_interest"]
WAIVED_INTEREST = FLOW["waived_interest"]
ORIGINATED_PRINCIPAL = FLOW["originated_principal"]
LEGAL_COST = FLOW["legal_cost"]
MEDIATION_FEE = FLOW["mediation_fee"]
DELINQUENT_ACCOUNTS = FLOW["delinquent_accounts"]
ACTIVE_ACCOUNTS = FLOW["active_accounts"]
RESTRUCTURED = FLOW["restructured"]
GRACE_CURES = FLOW["grace_cures"]
HOLIDAYS_STARTED = FLOW["holidays_started"]
SETTLEMENTS = FLOW["settlements"]
LEGAL_CASES = FLOW["legal_cases"]
NEW_SERIOUS_DELINQUENCIES = FLOW["new_serious_delinquencies"]
DUE_AMOUNT = FLOW["due_amount"]
DAY1_UNPAID = FLOW["day1_unpaid"]
COLLECTED_30D = FLOW["collected_30d"]
LATE_INTEREST = FLOW["late_interest"]
REPORTED_OVERDUE = FLOW["reported_overdue"]
EARLY_CONTACTS = FLOW["early_contacts"]
SETTLEMENT_OFFERS = FLOW["settlement_offers"]
SETTLED_BALANCE = FLOW["settled_balance"]
REINSTAL_OFFERS = FLOW["reinstal_offers"]
REINSTAL_APPLICATIONS = FLOW["reinstal_applications"]
HOLIDAY_OFFERS = FLOW["holiday_offers"]
EARLY_WARNING_OFFERS = FLOW["early_warning_offers"]
LEGAL_JUDGEMENTS = FLOW["legal_judgements"]
LEGAL_WINS = FLOW["legal_wins"]
REDEFAULT_30 = FLOW["redefault_30_3"]  # + 0, 1, 2 for 3, 6, 12 months
REDEFAULT_CO = FLOW["redefault_co_3"]
HOLIDAY_CURRENT_3 = FLOW["holiday_current_3"]
VINTAGE_DPD30 = FLOW["vintage_dpd30_balance"]  # row m - 1: m months on book
REDEFAULT_MONTHS = (3, 6, 12)
"""Months after a re-instalment at which the re-default curve is read."""
MEMORY_MONTHS = 24
"""Months after a relief beyond which its memory factor stays at its last value."""

# Purposes: the last 4 bits of the third Philox counter word, so that each use of randomness has
# its own stream and a borrower's draws do not depend on which other draws were made.
PURPOSE_BORROWER = 0  # the four words of a borrower-month: prepay, transition, grace, recovery
PURPOSE_POLICY = 1  # settlement acceptance, re-instalment application and approval, holiday
PURPOSE_LEGAL = 2  # legal action at charge-off (word 0) and its outcome at judgement (word 1)
PURPOSE_MACRO = 15  # the systematic factor of a path-month

# --- provisions: per (chunk, path in block, month, segment, tier), the ledger ----------------
# ``ledger[chunk, path, month, segment, tier, LEDGER]``: every loan on the book adds, at the end
# of each month, its principal and its ECL to its stage (two adjacent fields: one cache line),
# and the month's net credit loss goes there too, for losses by tier. What is rare and needs no
# tier - loans raised to stage 2 by a restructuring's probation alone, principal raised to a
# category floor by its observation period (by the category of the bucket and the floor), loans
# whose stage changed (from, to), new loans - are flows (``PROVISION_FLOWS``): the ledger stays
# small, and so does the memory it is zeroed and summed in.
N_STAGES = 3
N_CATEGORIES = 5
STAGE_BALANCE = 0  # + 2 * stage
ALLOWANCE = 1  # + 2 * stage
TIER_NET_CREDIT_LOSS = 2 * N_STAGES
N_LEDGER = TIER_NET_CREDIT_LOSS + 1
PROBATION_ACCOUNTS = FLOW["probation_accounts"]
CATEGORY_RAISED_FROM = FLOW["category_raised_from_0"]  # + category of the loan's bucket
CATEGORY_RAISED_TO = FLOW["category_raised_to_0"]  # + the floor it is raised to
STAGE_TRANSFERS = FLOW["stage_transfer_0_0"]  # + 3 * from_stage + to_stage (from != to)
NEW_ACCOUNTS = FLOW["new_accounts"]
