"""The load generator run by ``make load`` (``python -m tests.load``); not collected by pytest
(no ``test_*.py`` here). ``client`` is a network client of the viewer shared with the fault
tests in ``tests/scaleout/``."""
