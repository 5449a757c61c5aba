"""Prometheus metrics of the long-running processes: made per process, passed down explicitly."""
