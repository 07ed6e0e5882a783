"""Events: envelope, transactional outbox + relay, idempotent JetStream consumer, contracts.

Envelope          one versioned message shape for every subject
add_event()       write an event in the caller's transaction (outbox row)
OutboxRelay       publish outbox rows to JetStream (Nats-Msg-Id = envelope id), then mark them
Consumer          durable pull consumer; applies each message once per consumer
RetryableError    handler asks for a redelivery later (nak with delay)
PermanentError    handler rejects the message for good (term)
"""

from slipway.events.consumer import Consumer, PermanentError, RetryableError, Subscription
from slipway.events.envelope import Envelope
from slipway.events.outbox import OutboxRelay, add_event
from slipway.events.tables import event_tables

__all__ = [
    "Consumer",
    "Envelope",
    "OutboxRelay",
    "PermanentError",
    "RetryableError",
    "Subscription",
    "add_event",
    "event_tables",
]
