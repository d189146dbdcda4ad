"""The benchmark suite (airspeed velocity, ``asv.conf.json`` at the root) and the CI gate.

``asv run --python=same --quick`` runs every benchmark once; ``python -m benchmarks.gate``
measures the ratios CI holds to their floors (SPEC 9). ``tests/test_benchmarks.py`` runs both at
tiny sizes so that they cannot rot.
"""
