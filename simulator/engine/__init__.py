"""The engine: model tables -> kernel (Numba, or the NumPy reference) -> integer aggregates.

``tables`` turns the validated inputs into flat arrays of integer thresholds per path and month;
``kernel_numba`` and ``kernel_numpy`` run the monthly borrower loop of SPEC 4 on them and add the
cash flows and counts into integer accumulators laid out as described in ``layout``.
"""
