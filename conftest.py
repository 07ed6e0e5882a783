"""Root conftest: the harness that starts real Postgres, NATS and the stack (see slipway_stack.testing)."""

pytest_plugins = ["slipway_stack.testing", "slipway_stack.kube.testing", "slipway_stack.qovery_spec"]
