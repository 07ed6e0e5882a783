"""Container registries (Qovery's Container Registries calls), with their credentials encrypted at rest."""
