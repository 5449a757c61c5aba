"""Jobs on a queue: the narrow interfaces, and behind them a table of the SQLite file (embedded),
RabbitMQ (distributed) or a stub for tests.

    JobQueue  (workers, sync commands)   publish, publish_retry, publish_dead, consume
    QueueAdmin (status, purge, dlq)      stats, purge, dead_letters, replay_dead, purge_dead
    Broker = JobQueue + QueueAdmin + close:  TableQueue (queue/table.py: rows of the file, one
             consumer), RabbitBroker (quorum queues, TTL retry tiers), StubBroker
    order     which queue an embedded fill takes from next (characters first)

Errors are drawn in killreport.queue.broker; message bodies are killreport.queue.messages.Job.
"""

from typing import TYPE_CHECKING

from killreport._lazy import lazy_exports
from killreport.queue.broker import (
    DEAD_LETTER_QUEUE,
    QUEUE_NAMES,
    Broker,
    BrokerError,
    BrokerUnavailable,
    DeadLetter,
    Delivery,
    JobQueue,
    PublishFailed,
    QueueAdmin,
    QueueStats,
)
from killreport.queue.messages import Job, MessageError, decode, encode

if TYPE_CHECKING:
    from killreport.queue.rabbit import RabbitBroker
    from killreport.queue.stub import StubBroker

# Imported when first named: aio-pika is ~50 ms of every embedded command's start, which never
# uses it (python -X importtime).
__getattr__ = lazy_exports(__name__, {"RabbitBroker": "killreport.queue.rabbit",
                                      "StubBroker": "killreport.queue.stub"})

__all__ = [
    "DEAD_LETTER_QUEUE", "QUEUE_NAMES", "Broker", "BrokerError", "BrokerUnavailable", "DeadLetter",
    "Delivery", "Job", "JobQueue", "MessageError", "PublishFailed", "QueueAdmin", "QueueStats",
    "RabbitBroker", "StubBroker", "decode", "encode",
]
