"""What every workload (container, application, job) shares: probes, ports, storage, resources, Git sources."""
