"""Job scripts for the tests against the real frameworks (``test_frameworks_*.py``): each is
run as one process per rank, not imported by pytest."""
