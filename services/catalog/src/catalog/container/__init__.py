"""Container services of an environment (Qovery's Containers calls) and the service scope lookup."""
