"""The embedded one-node Kubernetes cluster: binaries built from Debian source, its processes, its DNS."""
