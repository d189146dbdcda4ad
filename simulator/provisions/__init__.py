"""Credit loss as the bank books it (SPEC 10): IFRS 9 / CAS 22 staging and expected credit loss,
the five regulatory categories, the credit loss expense, and capital.

* :mod:`~simulator.provisions.ecl`: ECL tables per scenario and policy, by backward induction
  over the engine's own chain (``build_ecl_tables``), and the opening allowance;
* :mod:`~simulator.provisions.tables`: what the kernels read (``ProvisionTables``) and where each
  path-month's factor falls on the tables' grid;
* :mod:`~simulator.provisions.capital`: from the kernels' ledger to the allowance roll-forward,
  the credit loss expense, asset quality ratios, risk-weighted assets and capital.

The rules themselves (``[provisions]`` of the model file, ``[capital]`` of the treasury file)
are read by :mod:`simulator.inputs.accounting`. Submodules are imported where they are used, so
that importing the engine's tables does not import the ECL builder that reads them.
"""
