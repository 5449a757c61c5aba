"""A worker process: connect (waiting for services), consume jobs up to a concurrency, drain on stop."""

from killreport.worker.main import run
from killreport.worker.runner import Backoff, consume
from killreport.worker.stats import flush_forever, flush_once

__all__ = ["Backoff", "consume", "flush_forever", "flush_once", "run"]
