"""Builds: the internal API the deployer calls, the queue that runs them, and each build's pipeline."""
