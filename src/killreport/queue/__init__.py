"""Jobs on a message broker: the narrow interfaces, RabbitMQ behind them, and a stub beside it for tests.

    JobQueue  (workers, sync commands)   publish, publish_retry, publish_dead, consume
    QueueAdmin (status, purge, dlq)      stats, purge, dead_letters, replay_dead, purge_dead
    Broker = JobQueue + QueueAdmin + close:  RabbitBroker (quorum queues, TTL retry tiers), StubBroker

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
