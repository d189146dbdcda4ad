"""``python -m simulator`` is ``stress-sim``."""

from simulator.cli import main

main()
