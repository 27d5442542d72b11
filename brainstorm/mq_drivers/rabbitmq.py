"""RabbitMQ through pika's BlockingConnection, used the way pika documents for long work.

The consuming thread owns the connection: it only dispatches messages and keeps the heartbeats, while
the work runs on other threads, which settle deliveries through `add_callback_threadsafe` (pika's one
thread-safe call). A 64 MiB save therefore never starves the heartbeats, and a frozen broker is noticed
within `HEARTBEAT_BOUND` (30 s with the default 10 s heartbeat), after which the consumer reconnects
with backoff; a connection attempt, TCP and AMQP handshake included, gives up after `TIMEOUT_SECONDS`.

The topology is declared by the consumer, durable: the exchange (topic `data` by default), a quorum
queue (`save`) bound to it, and its dead-letter quorum queue (`save.dead`). Quorum queues because they
are RabbitMQ's replicated, durable queue type from 3.8 on, the only replicated one left in 4.x (mirrored
classic queues were removed), and they count deliveries: after `DELIVERY_LIMIT` deliveries that ended
without an ack (consumers that died, or released it), the broker itself moves a message to the
dead-letter queue, so that no message loops for ever, even one that crashes every saver that takes it.
Messages are published persistent, with publisher confirms and `mandatory` (a message no queue takes is
an error, not a silent drop).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from brainstorm.database_drivers import InvalidInput, redact

from ._backoff import Backoff
from ._queue import (
    DEFAULT_TOPOLOGY,
    Delivery,
    DeliveryHandler,
    MessageQueue,
    QueueUnavailable,
    Topology,
    TopologyConflict,
    Unroutable,
)

log = logging.getLogger("brainstorm.mq")

DELIVERY_LIMIT = 10
"""Deliveries without an ack after which the broker dead-letters a message (the queue's `x-delivery-limit`)."""
HEARTBEAT_SECONDS = 10
"""The heartbeat asked for unless the URL says (`?heartbeat=N`), within RabbitMQ's advice of 5-20 s."""


def HEARTBEAT_BOUND(heartbeat: float = HEARTBEAT_SECONDS) -> float:
    """Within how many seconds a dead or frozen broker is noticed: pika looks every heartbeat + 5 s whether
    anything arrived since it last looked, so at most two such looks pass (30 s by default)."""
    return 2 * (heartbeat + 5)


TIMEOUT_SECONDS = 15
"""How long a connection attempt, or a publish's confirm while the broker holds it back, may take."""
_POLL_SECONDS = 0.2
"""How often the consuming thread looks whether it was asked to stop."""
_AMQP_SCHEMES = {"rabbitmq": "amqp", "amqp": "amqp", "amqps": "amqps"}
_CONNECTION_LOST = (pika.exceptions.AMQPConnectionError, pika.exceptions.ChannelClosed, ConnectionError)
REASON_HEADER = "x-brainstorm-reason"
"""The dead-letter header saying why a message can never be saved (with `x-brainstorm-routing-key`, the
routing key it came with, and `x-brainstorm-attempts`)."""


class RabbitmqQueue(MessageQueue):
    """`rabbitmq://host:port/` or `amqp://user:pass@host:port/vhost?heartbeat=N` (pika's URL options)."""

    def __init__(self, url: str, topology: Topology = DEFAULT_TOPOLOGY) -> None:
        super().__init__(url, topology)
        self._parameters = _parameters(url)
        self._publishing: tuple[pika.BlockingConnection, BlockingChannel] | None = None

    def __repr__(self) -> str:
        return f"RabbitmqQueue({redact(self.url)!r})"

    def publish(self, routing_key: str, body: bytes) -> None:
        channel = self._publishing_channel()
        properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")
        try:
            channel.basic_publish(self.topology.exchange, routing_key, body, properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            raise Unroutable(
                f"no queue takes routing key {routing_key!r} on exchange {self.topology.exchange!r}: "
                "start the saver first (it declares its queue)"
            ) from None
        except pika.exceptions.NackError:
            raise QueueUnavailable(f"{redact(self.url)} refused the message (routing key {routing_key!r})") from None
        except _CONNECTION_LOST as exc:
            self._publishing = None
            raise QueueUnavailable(f"lost {redact(self.url)} while publishing: {_reason(exc)}") from None

    def consume(
        self, handle: DeliveryHandler, *, prefetch: int, stop: threading.Event, abandon: threading.Event
    ) -> None:
        backoff = Backoff()
        while not abandon.is_set():
            try:
                connection = self._connect()
            except QueueUnavailable as exc:
                if stop.is_set():
                    return
                delay = backoff.next()
                log.warning("%s; trying again in %.1f s", exc, delay)
                abandon.wait(delay)
                continue
            try:
                _Consumer(connection, self.topology, handle).run(prefetch, stop, abandon, on_ready=backoff.reset)
                return
            except _CONNECTION_LOST as exc:
                if stop.is_set():  # what it held goes back to the queue: nothing more to finish
                    return
                log.warning("lost %s: %s; reconnecting", redact(self.url), _reason(exc))
            finally:
                _close_quietly(connection)

    def close(self) -> None:
        if self._publishing is not None:
            _close_quietly(self._publishing[0])
            self._publishing = None

    def _connect(self) -> pika.BlockingConnection:
        try:
            connection = pika.BlockingConnection(self._parameters)
        except pika.exceptions.ProbableAuthenticationError:
            raise QueueUnavailable(f"{redact(self.url)} refused the login") from None
        except (pika.exceptions.AMQPError, OSError) as exc:
            raise QueueUnavailable(f"cannot reach the broker at {redact(self.url)}: {_reason(exc)}") from None
        log.info("connected to %s", redact(self.url))
        return connection

    def _publishing_channel(self) -> BlockingChannel:
        if self._publishing is None or self._publishing[0].is_closed:
            connection = self._connect()
            channel = connection.channel()
            channel.confirm_delivery()
            _declare(channel, lambda: channel.exchange_declare(**_exchange(self.topology)))
            self._publishing = connection, channel
        return self._publishing[1]


class _RabbitmqDelivery(Delivery):
    def __init__(
        self, consumer: _Consumer, tag: int, body: bytes, routing_key: str, headers: dict[str, Any], redelivered: bool
    ) -> None:
        self.body, self.routing_key, self.redelivered = body, routing_key, redelivered
        # Quorum queues count the earlier deliveries that ended without an ack in `x-delivery-count`.
        earlier = headers.get("x-delivery-count")
        self.attempt = int(earlier) + 1 if earlier is not None else 2 if redelivered else 1
        self._consumer, self._tag = consumer, tag

    def ack(self) -> None:
        self._consumer.settle(self._tag, lambda channel: channel.basic_ack(self._tag))

    def release(self) -> None:
        self._consumer.settle(self._tag, lambda channel: channel.basic_nack(self._tag, requeue=True))

    def dead_letter(self, reason: str) -> None:
        headers = {
            REASON_HEADER: reason[:2000],
            "x-brainstorm-routing-key": self.routing_key,
            "x-brainstorm-attempts": self.attempt,
        }

        def move(channel: BlockingChannel) -> None:
            properties = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, headers=headers)
            channel.basic_publish("", self._consumer.topology.dead_letter_queue, self.body, properties, mandatory=True)
            channel.basic_ack(self._tag)  # only once the dead-letter queue confirmed its copy

        self._consumer.settle(self._tag, move)


class _Consumer:
    """One connection's consuming: dispatch on this thread, settlements queued to it by the workers."""

    def __init__(self, connection: pika.BlockingConnection, topology: Topology, handle: DeliveryHandler) -> None:
        self.connection, self.topology, self._handle = connection, topology, handle
        self.channel = connection.channel()
        self.channel.confirm_delivery()
        self._unsettled: set[int] = set()
        self._lock = threading.Lock()

    def run(self, prefetch: int, stop: threading.Event, abandon: threading.Event, on_ready: Callable[[], None]) -> None:
        _declare_all(self.channel, self.topology)
        self.channel.basic_qos(prefetch_count=prefetch)
        tag = self.channel.basic_consume(self.topology.queue, self._on_message)
        log.info("consuming queue %r (bound to exchange %r)", self.topology.queue, self.topology.exchange)
        on_ready()
        cancelled = False
        while not abandon.is_set():
            if stop.is_set() and not cancelled:
                self.channel.basic_cancel(tag)  # no more messages; those held are finished and settled
                cancelled = True
            with self._lock:
                if cancelled and not self._unsettled:
                    return
            self.connection.process_data_events(time_limit=_POLL_SECONDS)

    def settle(self, tag: int, action: Callable[[BlockingChannel], None]) -> None:
        """Run `action` on the consuming thread (from any thread); nothing if the connection is gone."""
        try:
            self.connection.add_callback_threadsafe(functools.partial(self._settle, tag, action))
        except pika.exceptions.ConnectionWrongStateError:
            log.info("delivery %d was not settled: its connection is gone, the broker delivers it again", tag)

    def _settle(self, tag: int, action: Callable[[BlockingChannel], None]) -> None:
        try:
            action(self.channel)
        finally:
            with self._lock:
                self._unsettled.discard(tag)

    def _on_message(self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        with self._lock:
            self._unsettled.add(method.delivery_tag)
        headers = properties.headers or {}
        self._handle(
            _RabbitmqDelivery(self, method.delivery_tag, body, method.routing_key, headers, method.redelivered)
        )


def declare(url: str, topology: Topology = DEFAULT_TOPOLOGY) -> None:
    """Declare the topology a consumer declares (so that messages published before any saver started
    have a queue to wait in); TopologyConflict as for a consumer."""
    queue = RabbitmqQueue(url, topology)
    connection = queue._connect()
    try:
        _declare_all(connection.channel(), topology)
    finally:
        _close_quietly(connection)


def _exchange(topology: Topology) -> dict[str, Any]:
    return {"exchange": topology.exchange, "exchange_type": topology.exchange_type, "durable": True}


def _declare_all(channel: BlockingChannel, topology: Topology) -> None:
    dead = topology.dead_letter_queue
    quorum = {"x-queue-type": "quorum"}
    limited = {
        **quorum,
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": dead,
    }
    _declare(channel, lambda: channel.exchange_declare(**_exchange(topology)))
    _declare(channel, lambda: channel.queue_declare(dead, durable=True, arguments=quorum))
    _declare(channel, lambda: channel.queue_declare(topology.queue, durable=True, arguments=limited))
    channel.queue_bind(topology.queue, topology.exchange, topology.binding_key)


def _declare(channel: BlockingChannel, declaration: Callable[[], Any]) -> None:
    """Run a declaration; an existing exchange or queue with other properties is a TopologyConflict."""
    try:
        declaration()
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 406:  # PRECONDITION_FAILED: declared before with other properties
            raise
        difference = exc.reply_text.partition(" - ")[2] or exc.reply_text
        raise TopologyConflict(
            f"the broker already has this with other properties: {difference} (brainstorm declares its "
            "exchange durable and its queues durable quorum queues; delete the old one, or choose other "
            "names with --exchange / --queue)"
        ) from None


def _parameters(url: str) -> pika.URLParameters:
    """pika's parameters for our URL forms, with our defaults where the URL gives none."""
    parts = urlsplit(url)
    scheme = _AMQP_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise InvalidInput(f"message queue URL {redact(url)!r} must start with rabbitmq://, amqp:// or amqps://")
    try:
        if not parts.hostname:
            raise ValueError("it names no host")
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number in range)
        given = parse_qs(parts.query)
        parameters = pika.URLParameters(urlunsplit((scheme, parts.netloc, parts.path, parts.query, "")))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"message queue URL {redact(url)!r} is not valid: {exc}") from None
    if "heartbeat" not in given:
        parameters.heartbeat = HEARTBEAT_SECONDS
    for option in ("socket_timeout", "stack_timeout", "blocked_connection_timeout"):
        if option not in given:
            setattr(parameters, option, TIMEOUT_SECONDS)
    parameters.connection_attempts = 1  # our own backoff retries, and says so
    return parameters


def _reason(exc: BaseException) -> str:
    """What went wrong, in words (pika's exceptions often have an empty or tuple-like str())."""
    text = str(exc).strip("()'\" ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _close_quietly(connection: pika.BlockingConnection) -> None:
    try:
        if connection.is_open:
            connection.close()
    except Exception:  # closing a connection already lost: nothing left to release
        log.debug("closing a lost connection failed", exc_info=True)
