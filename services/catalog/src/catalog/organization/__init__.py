"""Organizations as catalog sees them: a projection of iam's, with their default cluster and registry."""
