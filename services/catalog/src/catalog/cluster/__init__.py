"""Clusters (Qovery's Clusters calls): where environments run, and the kubeconfig of self-managed ones."""
