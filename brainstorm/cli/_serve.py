"""`brainstorm serve`: the HTTP API and the web viewer, run by uvicorn on a socket bound here.

A bad URL fails at start-up; an unreachable database does not (it may be starting too): the app
connects on the first request that finds it up, and answers 503 until then.

The socket is bound before uvicorn starts, so `--port 0` takes a free port and the line printed at
start-up names the real one (scripts and tests read it).
"""

from __future__ import annotations

import logging
import socket

import click

from brainstorm.console import reported_errors
from brainstorm.database_drivers import DatabaseUnavailable, connect, redact

LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def serve(database_url: str, host: str, port: int, log_level: str) -> None:
    """Serve `database_url` on `host:port` until interrupted (Ctrl-C)."""
    try:
        import uvicorn

        from brainstorm.api import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"brainstorm serve needs the serve extra ({exc.name} is missing): pip install 'brainstorm[serve]'"
        ) from None
    listening = _bind(host, port)
    # The API's own lines (a payload cut short, a database down) beside uvicorn's, in its format.
    logging.basicConfig(level=log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    _check(database_url)
    shown_host = f"[{host}]" if ":" in host else host
    where = f"http://{shown_host}:{listening.getsockname()[1]}/"
    reach = (
        "only this machine can connect; --host 0.0.0.0 listens on every interface"
        if host in LOCAL_HOSTS
        else f"listening on {host}: anyone who can reach this machine on it can read the database"
    )
    click.echo(f"Serving {redact(database_url)} at {where} ({reach})", err=True)
    config = uvicorn.Config(create_app(database_url), log_level=log_level, timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[listening])


def _check(database_url: str) -> None:
    """Fail now for a URL no driver takes; a database that is only unreachable is waited for instead
    (servers start in any order): until it answers, requests get 503."""
    with reported_errors():
        try:
            connect(database_url).close()
        except DatabaseUnavailable as exc:
            click.echo(f"Warning: {exc}; answering 503 until it is reachable", err=True)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (IPv6 when `host` is an IPv6 address); a clear error if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except (OSError, OverflowError) as exc:
        listening.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from None
    listening.listen(128)
    listening.set_inheritable(True)
    return listening
