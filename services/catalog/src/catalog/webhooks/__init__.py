"""Git webhooks: per-organization secrets, the providers' deliveries, auto-deploy on push."""
