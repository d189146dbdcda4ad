"""The engine: model tables -> kernel (Numba, or the NumPy reference) -> integer aggregates.

``tables`` (with ``levers`` for a policy and ``cohorts`` for new loans) turns the validated
inputs into flat arrays of integer thresholds per path and month; ``kernel_numba`` and
``kernel_numpy`` run the monthly borrower loop of SPEC 4 on them and add the cash flows and
counts into integer accumulators laid out as described in ``layout``. What these modules hand
one another (``Book``, ``Pool``, ``Levers``, ``Tables``) is defined one floor down, in
``arrays``, which imports none of them.
"""
