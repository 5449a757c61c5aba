"""Prometheus metrics of the long-running processes (`run`, `worker`, `scheduler`, in either mode):
made per process, passed down explicitly."""
