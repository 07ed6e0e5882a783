"""Live service output and running state: the `/service/logs` and `/service/status` websockets."""
