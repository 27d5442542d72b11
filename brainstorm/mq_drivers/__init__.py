"""Message queue drivers, by URL scheme, and `connect(url)`: what the saver consumes and parsers publish to.

    import brainstorm.mq_drivers as mq_drivers
    with mq_drivers.connect("rabbitmq://127.0.0.1:5672/") as queue:
        queue.publish("pose", message_bytes)

`rabbitmq://host:port/` (the original pipeline's form), `amqp://user:pass@host:port/vhost` (RabbitMQ's
own) and `amqps://` pick the RabbitMQ driver. Other packages add drivers through the entry-point group
`brainstorm.mq_drivers` (`scheme = "package.module:Class"`, a `MessageQueue` subclass). A driver's
module is imported only when asked for, so a missing optional dependency breaks nothing until then,
and then says what to install.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from brainstorm.database_drivers import DriverUnavailable, InvalidInput, UnknownDriver, redact

from ._backoff import Backoff
from ._queue import (
    DEFAULT_TOPOLOGY,
    Delivery,
    DeliveryHandler,
    MessageQueue,
    QueueError,
    QueueUnavailable,
    Topology,
    TopologyConflict,
    Unroutable,
)

__all__ = [
    "DEFAULT_TOPOLOGY",
    "Backoff",
    "Delivery",
    "DeliveryHandler",
    "MessageQueue",
    "QueueError",
    "QueueUnavailable",
    "Topology",
    "TopologyConflict",
    "Unroutable",
    "connect",
    "schemes",
]

ENTRY_POINT_GROUP = "brainstorm.mq_drivers"
_BUILT_IN = {scheme: ("rabbitmq", "RabbitmqQueue", "rabbitmq") for scheme in ("rabbitmq", "amqp", "amqps")}
"""scheme -> (module of this package, class, the pip extra that installs its dependencies)."""


def schemes() -> list[str]:
    """The URL schemes a driver is known for."""
    return sorted({*_BUILT_IN, *(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))})


def queue_class(scheme: str) -> type[MessageQueue]:
    """The driver class for a URL scheme (UnknownDriver, or DriverUnavailable naming what to install)."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == scheme:
            loaded: type[MessageQueue] = entry.load()
            return loaded
    if scheme not in _BUILT_IN:
        raise UnknownDriver(
            f"no message queue driver for {scheme}://; known: {', '.join(s + '://' for s in schemes())}"
        )
    module, class_name, extra = _BUILT_IN[scheme]
    try:
        cls: type[MessageQueue] = getattr(importlib.import_module(f"{__name__}.{module}"), class_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("brainstorm"):
            raise
        raise DriverUnavailable(
            f"{scheme}:// needs the {exc.name!r} package, which is not installed; "
            f"install it with: pip install 'brainstorm[{extra}]'"
        ) from exc
    return cls


def connect(url: str, topology: Topology = DEFAULT_TOPOLOGY, **options: Any) -> MessageQueue:
    """A driver for `url`, chosen by its scheme (nothing is sent to the broker until it is used)."""
    if not isinstance(url, str):
        raise InvalidInput(f"a message queue URL must be a string, not {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise InvalidInput(f"message queue URL {redact(url)!r} has no scheme (like rabbitmq://host:5672/)")
    return queue_class(scheme.lower())(url, topology, **options)
