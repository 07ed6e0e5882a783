"""Git tokens (Qovery's Git Token calls): provider tokens kept encrypted, never shown again."""
