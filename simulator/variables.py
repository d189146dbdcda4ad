"""Every variable of a result Dataset, registered once: dims, units, long name and meaning.

Datasets are built through :func:`simulator.aggregate.build_dataset`, which checks each variable
against this registry; names and dims are part of the interface (SPEC 6).
"""

from __future__ import annotations

from dataclasses import dataclass

SCENARIO, POLICY, PATH, MONTH, SEGMENT, STATE, LEVEL = (
    "scenario", "policy", "path", "month", "segment", "state", "level",
)  # fmt: skip
TIER, STAGE, FROM_STAGE, TO_STAGE, CATEGORY = "tier", "stage", "from_stage", "to_stage", "category"
MONTHS_SINCE, KIND, MONTHS_ON_BOOK = "months_since_restructuring", "kind", "months_on_book"
RUN = (SCENARIO, POLICY)
PATH_MONTH = (*RUN, PATH, MONTH)


@dataclass(frozen=True)
class Variable:
    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    doc: str = ""


_REGISTRY: dict[str, Variable] = {}


def _register(name: str, dims: tuple[str, ...], units: str, long_name: str, doc: str = "") -> None:
    _REGISTRY[name] = Variable(name, dims, units, long_name, doc)


def get(name: str) -> Variable:
    return _REGISTRY[name]


def registered() -> dict[str, Variable]:
    return dict(_REGISTRY)


_MONEY_FLOWS = {
    "collected_interest": ("interest collected", "Interest part of instalment payments."),
    "collected_principal": (
        "principal collected",
        "Principal part of scheduled and catch-up instalment payments.",
    ),
    "prepaid_principal": (
        "principal prepaid",
        "Principal repaid early (loans closed by prepayment).",
    ),
    "settled_principal": ("principal settled", "Principal closed by negotiated settlement."),
    "settlement_cash": ("settlement cash", "Cash received from settlements."),
    "settlement_loss": ("settlement loss", "Haircut given up in settlements."),
    "recoveries": ("recoveries", "Cash recovered on charged-off loans, net of agency fees."),
    "recovery_fees": ("agency recovery fees", "Fees kept by collection agencies on recoveries."),
    "chargeoff_principal": ("principal charged off", "Principal written off past 180 DPD."),
    "chargeoff_interest": ("interest charged off", "Accrued interest written off past 180 DPD."),
    "net_credit_loss": ("net credit loss", "chargeoff_principal + settlement_loss - recoveries."),
    "capitalised_interest": (
        "interest capitalised",
        "Interest added to principal (re-instalment, payment holidays).",
    ),
    "waived_interest": (
        "penalty interest waived",
        "Accrued penalty interest forgiven on re-instalment.",
    ),
    "originated_principal": ("principal originated", "New lending."),
    "collection_cost": ("collection cost", "Cost of working delinquent accounts."),
    "legal_cost": ("legal cost", "Filing costs of legal recovery."),
    "mediation_fee": ("mediation fee", "Fees paid to third-party mediators."),
    "operating_cost": ("operating cost", "Servicing cost of active accounts."),
}
for _name, (_long, _doc) in _MONEY_FLOWS.items():
    _register(_name, PATH_MONTH, "CNY", _long, _doc)

_COUNTS = {
    "active_accounts": (
        "active account-months",
        "Loans active (current or delinquent) during the month.",
    ),
    "delinquent_accounts": (
        "delinquent account-months",
        "Loans delinquent at the start of the month (worked by collections).",
    ),
    "restructured": ("re-instalments", "Loans re-instalmented."),
    "grace_cures": ("grace-period cures", "Missed debits cured within the grace days."),
    "holidays_started": ("payment holidays started", ""),
    "settlements": ("settlements", "Loans closed by settlement."),
    "legal_cases": ("legal cases filed", ""),
    "new_serious_delinquencies": (
        "new serious delinquencies",
        "Loans reaching 90+ DPD for the first time (reported to the credit bureau).",
    ),
}
for _name, (_long, _doc) in _COUNTS.items():
    _register(_name, PATH_MONTH, "1", _long, _doc)

_TREASURY = {
    "funding_interest": (
        "funding interest",
        "Interest paid on funding tranches, at their rate plus the scenario's funding spread.",
    ),
    "funding_repaid": ("funding repaid", "Maturing funding not rolled over."),
    "net_cash_flow": (
        "net cash flow",
        "Inflows (collections, prepayments, settlement cash, "
        "recoveries) less outflows (new lending, costs, funding interest and "
        "repayments).",
    ),
    "liquidity_buffer": (
        "liquidity buffer",
        "Initial buffer plus cumulative net cash flow, end of month.",
    ),
}
for _name, (_long, _doc) in _TREASURY.items():
    _register(_name, PATH_MONTH, "CNY", _long, _doc)

_register(
    "balance",
    (*PATH_MONTH, STATE),
    "CNY",
    "principal by state",
    "Principal on book at the end of the month, by state (0 for closed and written-off).",
)
_register(
    "accounts",
    (*PATH_MONTH, STATE),
    "1",
    "loans by state",
    "Number of loans in each state at the end of the month.",
)
_register(
    "segment_balance",
    (*PATH_MONTH, SEGMENT, STATE),
    "CNY",
    "principal by segment and state",
    "balance broken down by borrower segment.",
)
_register(
    "segment_net_credit_loss",
    (*PATH_MONTH, SEGMENT),
    "CNY",
    "net credit loss by segment",
    "net_credit_loss broken down by borrower segment.",
)
_register(
    "macro_index",
    (*PATH_MONTH, SEGMENT),
    "1",
    "credit-cycle index Z",
    "Z[p, t, g]: macro path plus sigma * eta; negative is bad times.",
)
_register(
    "weight",
    (*RUN, PATH),
    "1",
    "likelihood ratio of the path",
    "Tail sampling (SPEC 13): the plain law's density of the path's factor innovations over the "
    "sampling law's; every estimate is the weighted one. 1 on every path of a plain run.",
)
_register(
    "cumulative_net_loss",
    (*RUN, PATH),
    "CNY",
    "cumulative net credit loss",
    "net_credit_loss summed over the horizon.",
)
_register("loss_rate", (*RUN, PATH), "1", "loss rate", "cumulative_net_loss / opening_principal.")
_register("opening_principal", RUN, "CNY", "opening principal", "Principal on book at month 0.")
_register(
    "segment_opening_principal",
    (*RUN, SEGMENT),
    "CNY",
    "opening principal by segment",
    "opening_principal broken down by borrower segment.",
)
_register(
    "min_buffer",
    (*RUN, PATH),
    "CNY",
    "minimum liquidity buffer",
    "The lowest end-of-month liquidity_buffer over the horizon.",
)
_register(
    "survival_months",
    (*RUN, PATH),
    "month",
    "survival horizon",
    "First month whose liquidity_buffer is below zero; horizon + 1 if none.",
)


# --- provisions, asset quality and capital (SPEC 10) ------------------------------------------

_register(
    "stage_balance",
    (*PATH_MONTH, STAGE),
    "CNY",
    "principal by IFRS 9 stage",
    "Principal on book at the end of the month in stage 1, 2 and 3 (sums to balance over the "
    "active states).",
)
_register("stage_accounts", (*PATH_MONTH, STAGE), "1", "loans by IFRS 9 stage", "End of month.")
_register(
    "stage_transfers",
    (*PATH_MONTH, FROM_STAGE, TO_STAGE),
    "1",
    "loans by stage last month and this month",
    "Loans on the book at both month ends, by their stage at the previous month end (the as-of "
    "date for month 1) and at this one; new loans are not counted in their first month.",
)
_register(
    "allowance",
    (*PATH_MONTH, STAGE),
    "CNY",
    "ECL allowance by stage",
    "Sum of the loans' expected credit loss at the end of the month: 12-month in stage 1, "
    "lifetime in stages 2 and 3 (provisions.ecl).",
)
_register("opening_allowance", RUN, "CNY", "opening ECL allowance", "Allowance at the as-of date.")
_register(
    "credit_loss_expense",
    PATH_MONTH,
    "CNY",
    "credit loss expense",
    "allowance(t) - allowance(t-1) + net_credit_loss(t): the P&L provision charge.",
)
_register(
    "lifetime_net_loss",
    (*RUN, PATH),
    "CNY",
    "lifetime net credit loss",
    "Net credit loss over the horizon plus the closing allowance: deferred losses counted.",
)
_register(
    "lifetime_loss_rate",
    (*RUN, PATH),
    "1",
    "lifetime loss rate",
    "lifetime_net_loss / opening_principal.",
)
_register(
    "category_balance",
    (*PATH_MONTH, CATEGORY),
    "CNY",
    "principal by regulatory category",
    "五级分类: normal 正常, special_mention 关注, substandard 次级, doubtful 可疑, loss 损失.",
)
for _name, (_long, _doc) in {
    "npl_ratio": ("NPL ratio", "(substandard + doubtful + loss) / principal on book."),
    "provision_coverage": ("provision coverage ratio", "allowance / NPL balance (拨备覆盖率)."),
    "loan_loss_provision_ratio": (
        "loan-loss provision ratio",
        "allowance / principal on book (贷款拨备率).",
    ),
    "capital_ratio": ("capital ratio", "capital / risk_weighted_assets."),
}.items():
    _register(_name, PATH_MONTH, "1", _long, _doc)
_register(
    "capital",
    PATH_MONTH,
    "CNY",
    "capital",
    "Opening capital plus cumulative after-tax profit: interest collected less funding "
    "interest, costs and the credit loss expense.",
)
_register("opening_capital", RUN, "CNY", "opening capital", "Capital at the as-of date.")
_register(
    "risk_weighted_assets",
    PATH_MONTH,
    "CNY",
    "risk-weighted assets",
    "Credit risk RWA of the book (standardised or IRB, the treasury file's [capital]).",
)
_register(
    "capital_breach_month",
    (*RUN, PATH),
    "month",
    "first month below the minimum capital ratio",
    "horizon + 1 if the capital ratio never falls below the minimum.",
)
_register(
    "tier_net_credit_loss",
    (*RUN, PATH, SEGMENT, TIER),
    "CNY",
    "net credit loss by segment and tier",
    "net_credit_loss over the horizon by borrower segment and score tier.",
)


# --- payments and relief (SPEC 11) -------------------------------------------------------------

for _name, (_long, _doc) in {
    "due_amount": (
        "instalments due",
        "Instalments falling due from loans current at the start of the month.",
    ),
    "day1_unpaid": (
        "instalments unpaid on the due date",
        "Day-1 misses: still unpaid at the month end, or paid within the month after the due date.",
    ),
    "collected_30d": (
        "Day-1 misses paid within the month",
        "Instalments missed on the due date and paid within the month (30 days).",
    ),
    "late_interest": (
        "penalty interest of late payers",
        "Penalty interest for the days late of Day-1 misses paid after the grace days.",
    ),
    "settled_balance": (
        "balance settled",
        "Principal and accrued interest of settled loans "
        "(settlement_cash over it is the recovery rate of settlements).",
    ),
}.items():
    _register(_name, PATH_MONTH, "CNY", _long, _doc)
for _name, (_long, _doc) in {
    "reported_overdue": (
        "accounts reported overdue",
        "Accounts reported overdue to the credit "
        "bureau this month: Day-1 misses not paid within the grace days.",
    ),
    "early_contacts": (
        "early collections contacts",
        "Day-1 misses paid within the month but "
        "after the grace days: contacted (collections contact_cost each).",
    ),
    "settlement_offers": ("settlement offers", "Delinquent loans offered a settlement."),
    "reinstal_offers": ("re-instalment offers", "Eligible loans offered a re-instalment."),
    "reinstal_applications": (
        "re-instalment applications",
        "Offers the borrower applied for (approved ones are restructured).",
    ),
    "holiday_offers": ("payment holiday offers", "Eligible loans offered a payment holiday."),
    "early_warning_offers": (
        "early-warning offers",
        "Current loans of vulnerable tiers "
        "offered relief while the macro index is below the trigger.",
    ),
    "legal_judgements": ("legal judgements", "Legal cases judged."),
    "legal_wins": ("legal cases won", "Judgements that recovered."),
}.items():
    _register(_name, PATH_MONTH, "1", _long, _doc)
for _name, (_long, _doc) in {
    "day1_delinquency_rate": ("Day-1 delinquency rate", "day1_unpaid / due_amount (入催率)."),
    "collection_rate_30d": ("30-day collection rate", "collected_30d / day1_unpaid (M1回款率)."),
    "dpd90_ratio": (
        "90+ DPD ratio",
        "Principal 91-180 days past due over principal on the book (the active states), end of "
        "month: the 90 day+ delinquency ratio lenders publish (90天以上逾期率; loans past 180 DPD "
        "are charged off, as lenders leave them out of the balance).",
    ),
}.items():
    _register(_name, PATH_MONTH, "1", _long, _doc)
_register(
    "vintage_dpd30_balance",
    (*RUN, PATH, MONTHS_ON_BOOK),
    "CNY",
    "new loans' principal 31+ DPD by months on book",
    "Principal 31-180 DPD of the loans originated within the horizon, at the end of their m-th "
    "month on book (the vintage curve's numerator).",
)
_register(
    "vintage_dpd30",
    (*RUN, PATH, MONTHS_ON_BOOK),
    "1",
    "vintage 30+ DPD rate",
    "vintage_dpd30_balance over the principal originated in the months 1..H - m, which have "
    "reached m months on book by the horizon (NaN without new lending): the vintage curve "
    "lenders draw, all cohorts of the horizon pooled.",
)
_register(
    "restructured_observed",
    (*RUN, PATH, MONTHS_SINCE),
    "1",
    "re-instalmented loans observed",
    "Loans re-instalmented at least that many months before the horizon's end.",
)
_register(
    "redefault_loans",
    (*RUN, PATH, MONTHS_SINCE, KIND),
    "1",
    "re-instalmented loans re-defaulted",
    "Of restructured_observed: 30+ DPD (charged-off included) or charged off that many months "
    "after the re-instalment.",
)
_register(
    "redefault_rate",
    (*RUN, PATH, MONTHS_SINCE, KIND),
    "1",
    "re-default rate",
    "redefault_loans / restructured_observed (NaN without re-instalments).",
)
_register(
    "holiday_observed",
    (*RUN, PATH),
    "1",
    "holiday loans observed",
    "Payment holidays that ended at least three months before the horizon's end.",
)
_register(
    "holiday_current_share",
    (*RUN, PATH),
    "1",
    "holiday loans current after three months",
    "Share of holiday_observed current three months after the holiday.",
)
