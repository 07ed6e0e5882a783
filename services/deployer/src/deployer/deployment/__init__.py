"""Deployer: deployment routes (endpoints), bodies (views/schemas) and rules (service) over deployer.repository."""
