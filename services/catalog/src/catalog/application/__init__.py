"""Application services of an environment: built from a Git repository (Qovery's Applications calls)."""
