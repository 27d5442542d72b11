"""What a message queue driver supplies: confirmed publishing, and consuming with explicit settlement.

The saver owns the policy (what to retry, what is poison, when to stop); a driver owns the broker's
protocol, its reconnection and its heartbeats. The interface is narrow so that another broker plugs in
with the same saver: `publish`, `consume`, and a `Delivery` that is settled exactly once, from any thread.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from brainstorm.database_drivers import BrainstormError, InvalidInput


class QueueError(BrainstormError):
    """Base of the message queue's own errors."""


class QueueUnavailable(QueueError, ConnectionError):
    """The broker could not be reached, refused the login, or did not confirm a message."""


class TopologyConflict(QueueError):
    """The broker already has an exchange or queue of that name with other properties."""


class Unroutable(QueueError):
    """A published message reached no queue (nothing is bound for its routing key)."""


@dataclass(frozen=True)
class Topology:
    """Where messages go: the saver's queue, bound to an exchange, and its dead-letter queue.

    The defaults are the original pipeline's: parsers publish to the topic exchange `data` with their
    name as routing key, and the saver consumes the queue `save`, bound with `#` (every result).
    """

    exchange: str = "data"
    exchange_type: str = "topic"
    queue: str = "save"
    binding_key: str = "#"

    def __post_init__(self) -> None:
        for field, value in (("exchange", self.exchange), ("queue", self.queue)):
            if not value or len(value.encode()) > 255 or not value.isprintable():
                raise InvalidInput(f"{field} name {value!r} must be 1-255 bytes of printable text")
        if self.exchange_type not in ("topic", "direct", "fanout"):
            raise InvalidInput(f"exchange type {self.exchange_type!r} must be topic, direct or fanout")

    @property
    def dead_letter_queue(self) -> str:
        """Where messages that can never be saved go, each with the reason in a header: `save.dead`."""
        return f"{self.queue}.dead"


DEFAULT_TOPOLOGY = Topology()


class Delivery(ABC):
    """A message taken from the queue and held by this consumer until it is settled, once, from any thread.

    Settling after the connection was lost does nothing: the broker has put the message back already,
    and it is delivered again (to this consumer or another).
    """

    body: bytes
    routing_key: str
    attempt: int
    """1 on the first delivery, 2 on the next (after a consumer died holding it, or released it)..."""
    redelivered: bool

    @abstractmethod
    def ack(self) -> None:
        """Done with: the broker forgets the message."""

    @abstractmethod
    def dead_letter(self, reason: str) -> None:
        """Never to be saved: moved to the dead-letter queue with `reason` in its headers (confirmed first)."""

    @abstractmethod
    def release(self) -> None:
        """Not done: back to the queue, to be delivered again (as a further attempt)."""


DeliveryHandler = Callable[[Delivery], None]
"""Called on the consuming thread for each message: it must hand the work off and return at once, so that
the connection keeps its heartbeats however long a save takes."""


class MessageQueue(ABC):
    """A connection to a broker at `url`, for the topology given."""

    def __init__(self, url: str, topology: Topology = DEFAULT_TOPOLOGY) -> None:
        self.url = url
        self.topology = topology

    @abstractmethod
    def publish(self, routing_key: str, body: bytes) -> None:
        """Publish a persistent message to the topology's exchange and wait for the broker's confirm.
        Unroutable when no queue takes it; QueueUnavailable when the broker does not confirm it."""

    @abstractmethod
    def consume(
        self, handle: DeliveryHandler, *, prefetch: int, stop: threading.Event, abandon: threading.Event
    ) -> None:
        """Declare the topology and deliver messages to `handle`, at most `prefetch` unsettled at a time,
        reconnecting after broker faults, until `stop` is set and every delivery is settled (or, at
        once, until `abandon` is set: the unsettled ones are then delivered again, elsewhere or later)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection (unsettled deliveries go back to the queue)."""

    def __enter__(self) -> MessageQueue:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
