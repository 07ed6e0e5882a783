"""Runtime drivers: one module per engine behind the `RuntimeDriver` interface (base.py)."""
