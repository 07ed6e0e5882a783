"""The deployer's view of an environment: its desired state, and the version of a service to deploy."""
