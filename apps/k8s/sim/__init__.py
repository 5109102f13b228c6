"""The embedded simulated Kubernetes cluster: virtual time, seeded and deterministic."""
