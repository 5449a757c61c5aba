"""A worker: consume jobs up to a concurrency, drain on stop. Distributed, a `killreport worker`
process connects (waiting for PostgreSQL and RabbitMQ) and takes jobs from RabbitMQ; embedded, the
file's runner (`run`, or `sync-all --wait` alone) takes them from the file's table queue."""

from killreport.worker.main import run
from killreport.worker.runner import Backoff, consume
from killreport.worker.stats import flush_forever, flush_once

__all__ = ["Backoff", "consume", "flush_forever", "flush_once", "run"]
