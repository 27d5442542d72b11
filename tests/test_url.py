"""Credentials never leak, whatever form a URL takes: in `redact`, a driver's repr, errors and the CLI.

Each hostile URL below is one pymongo reads (or misreads) with a secret in it. It is checked in every
place a URL shows: `redact(url)`, the repr of a driver built from it, the error of a database that
cannot be reached, and the command line's stderr in a real process. The secret must never appear;
the host must.
"""

from __future__ import annotations

import functools
import os
import subprocess
import traceback
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import redact
from brainstorm.database_drivers._url import scrub
from tests.conftest import create_login, run_module, server_address

UNREACHABLE = "127.0.0.1:1"
UNREACHABLE_OPTIONS = "serverSelectionTimeoutMS=200"


@dataclass(frozen=True)
class Hostile:
    """A URL form (`{host}`, `{db}` and `{options}` filled in per place) and the secrets it holds."""

    name: str
    template: str
    secrets: tuple[str, ...]
    constructs: bool = True  # a driver can be built from it against the test server (for its repr)

    def url(self, host: str, db: str, options: str) -> str:
        return self.template.format(host=host, db=db, options=options)


HOSTILE = [
    Hostile(
        "'#' in the password", "mongodb://brain_hash:s3#cr3t@{host}/{db}?{options}", ("brain_hash", "s3#cr3t", "cr3t")
    ),
    Hostile(
        "a session token in authMechanismProperties",
        "mongodb://{host}/{db}?{options}&authMechanismProperties=AWS_SESSION_TOKEN:t0k3nvalue",
        ("t0k3nvalue",),
    ),
    Hostile("no scheme", "brain_admin:s3cr3t@{host}/{db}?{options}", ("brain_admin", "s3cr3t"), constructs=False),
    Hostile(
        "'/' in the password",
        "mongodb://brain_admin:pa/ss@{host}/{db}?{options}",
        ("brain_admin", "pa/ss", "ss@"),
        constructs=False,
    ),
    Hostile(
        "'?' in the password",
        "mongodb://brain_admin:pa?ss@{host}/{db}?{options}",
        ("brain_admin", "pa?ss", "ss@"),
        constructs=False,
    ),
    Hostile(
        "'@' in the password",
        "mongodb://brain_admin:p@ss3cr3t@{host}/{db}?{options}",
        ("brain_admin", "ss3cr3t"),
        constructs=False,
    ),
    Hostile(
        "an escaped '@' in the password",
        "mongodb://brain_at:p%40ss3cr3t@{host}/{db}?{options}",
        ("brain_at", "ss3cr3t"),
    ),
    Hostile(
        "'[' in the password",
        "mongodb://brain_bracket:s3[cr3t@{host}/{db}?{options}",
        ("brain_bracket", "s3[cr3t", "cr3t"),
    ),
    Hostile(
        "a password option",
        "mongodb://{host}/{db}?{options}&tlsCertificateKeyFilePassword=hunt3r2",
        ("hunt3r2",),
        constructs=False,  # the option turns TLS on, which the test server does not speak
    ),
]


def cases(place: str) -> list[object]:
    """The hostile URLs for one place (for a driver's repr, those a driver can be built from)."""
    return [pytest.param(hostile, id=hostile.name) for hostile in HOSTILE if place != "repr" or hostile.constructs]


def assert_hidden(text: str, hostile: Hostile, host: str) -> None:
    for secret in hostile.secrets:
        assert secret not in text, text
    assert host in text, text


# The four places --------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", cases("redact"))
def test_redact_hides_every_secret_and_shows_the_host(hostile: Hostile) -> None:
    assert_hidden(redact(hostile.url(UNREACHABLE, "brainstorm", UNREACHABLE_OPTIONS)), hostile, UNREACHABLE)


LOGINS = {"brain_hash": "s3#cr3t", "brain_at": "p@ss3cr3t", "brain_bracket": "s3[cr3t"}
"""The users of the hostile URLs a driver is built from, and their passwords as the server knows them."""


@pytest.fixture(scope="module")
def logins(mongodb_server_url: str) -> None:
    """The users of `LOGINS`, made on the test server."""
    for user, password in LOGINS.items():
        create_login(mongodb_server_url, user, password)


@pytest.fixture
def server(mongodb_server_url: str, logins: None) -> Iterator[tuple[str, str]]:
    """The test server's host and a database of this test's own, dropped afterwards."""
    host, name = server_address(mongodb_server_url), f"brainstorm_test_{uuid.uuid4().hex[:12]}"
    yield host, name
    with pymongo.MongoClient(mongodb_server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.mark.parametrize("hostile", cases("repr"))
def test_a_drivers_repr_hides_every_secret_and_shows_the_host(hostile: Hostile, server: tuple[str, str]) -> None:
    host, name = server
    logs_in = any(user in hostile.secrets for user in LOGINS)
    url = hostile.url(host, name, "authSource=admin" if logs_in else "appName=test")
    with db_drivers.driver_class("mongodb")(url) as driver:  # connecting logs in: the password is the real one
        assert_hidden(repr(driver), hostile, host)


@functools.cache
def unreachable_error(hostile: Hostile) -> BaseException:
    """What connecting to the unreachable database and reading from it raises (once per URL form)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymongo warns of what it misreads as options
            with db_drivers.connect(hostile.url(UNREACHABLE, "brainstorm", UNREACHABLE_OPTIONS)) as driver:
                driver.get_users()
    except Exception as exc:
        return exc
    raise AssertionError("an unreachable database was reached")


@pytest.mark.parametrize("hostile", [pytest.param(hostile, id=hostile.name) for hostile in HOSTILE])
def test_an_unreachable_databases_error_never_shows_a_secret(hostile: Hostile) -> None:
    error = unreachable_error(hostile)
    for secret in hostile.secrets:
        assert secret not in "".join(traceback.format_exception(error))


@pytest.mark.parametrize("hostile", cases("connect"))
def test_an_unreachable_database_is_a_brainstorm_error_naming_the_host(hostile: Hostile) -> None:
    error = unreachable_error(hostile)
    assert isinstance(error, db_drivers.BrainstormError), repr(error)
    assert_hidden(str(error), hostile, UNREACHABLE)


@functools.cache
def command_line(hostile: Hostile) -> subprocess.CompletedProcess[str]:
    """`python -m brainstorm.cli -d URL users`, run once per URL form in a user's environment."""
    env = {key: value for key, value in os.environ.items() if key != "BRAINSTORM_DATABASE_URL"}
    url = hostile.url(UNREACHABLE, "brainstorm", UNREACHABLE_OPTIONS)
    return run_module("brainstorm.cli", "-d", url, "users", env={**env, "XDG_DATA_HOME": "/nonexistent/xdg"})


@pytest.mark.parametrize("hostile", [pytest.param(hostile, id=hostile.name) for hostile in HOSTILE])
def test_the_command_line_never_shows_a_secret(hostile: Hostile) -> None:
    process = command_line(hostile)
    assert process.returncode == 1
    for secret in hostile.secrets:
        assert secret not in process.stdout + process.stderr


@pytest.mark.parametrize("hostile", cases("cli"))
def test_the_command_line_fails_with_one_error_line_naming_the_host(hostile: Hostile) -> None:
    process = command_line(hostile)
    assert process.stdout == "" and process.stderr.startswith("Error: ")
    assert len(process.stderr.strip().splitlines()) == 1, process.stderr
    assert_hidden(process.stderr, hostile, UNREACHABLE)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A user's environment without a database URL of its own."""
    environ = {key: value for key, value in os.environ.items() if key != "BRAINSTORM_DATABASE_URL"}
    return {**environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}


def test_a_slash_in_the_password_is_one_error_line_without_it(env: dict[str, str]) -> None:
    process = run_module("brainstorm.cli", "-d", "mongodb://u:pa/ss@h/db", "users", env=env)
    lines = process.stderr.strip().splitlines()
    assert process.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: "), process.stderr
    assert "pa/ss" not in process.stderr and "ss@" not in process.stderr
    assert "mongodb://***@h/db" in lines[0]


# redact: exactly what changes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mongodb://user:pw@h1:27017,h2/db?replicaSet=rs", "mongodb://***@h1:27017,h2/db?replicaSet=rs"),
        ("mongodb://user:s3#cret@host/db", "mongodb://***@host/db"),
        ("mongodb://u:pa/ss@host/db", "mongodb://***@host/db"),
        ("mongodb://u:pa?ss@host/db?w=1", "mongodb://***@host/db?w=1"),
        ("mongodb+srv://u:p@ss@cluster.example/db", "mongodb+srv://***@cluster.example/db"),
        ("user:pw@host/db", "***@host/db"),
        ("user:pw@host/db?x=http://y", "***@host/db?x=http://y"),
        ("brainstorm.db", "brainstorm.db"),
        ("sqlite:////home/me@work/b.db", "sqlite:////home/me@work/b.db"),
        ("sqlite://", "sqlite://"),
        ("mongodb://host/db?appName=me@x", "mongodb://***@x"),  # an '@' may end a password: hide before it
        ("mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:abc,SERVICE_NAME:m", None),
    ],
)
def test_redact_changes_only_the_credentials(url: str, shown: str | None) -> None:
    expected = shown or "mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:***,SERVICE_NAME:***"
    assert redact(url) == expected


@pytest.mark.parametrize(
    ("query", "secret"),
    [
        ("password=hunt3r2", "hunt3r2"),
        ("w=1&clientSecret=hunt3r2", "hunt3r2"),
        ("w=1&apiToken=hunt3r2&w=2", "hunt3r2"),
        ("sslKey=hunt3r2", "hunt3r2"),
        ("PASSWORD=hunt3r2", "hunt3r2"),
        ("w=1;password=hunt3r2", "hunt3r2"),  # pymongo also separates options with ';'
        ("password=hun#t3r2", "t3r2"),  # no fragment: '#' is part of the value
        ("password=hun;t3r2&w=1", "t3r2"),  # a separator not followed by `name=` is part of the value
        ("authMechanismProperties=AWS_SESSION_TOKEN%3At0k3n", "t0k3n"),  # pymongo decodes, then splits
        ("authMechanismProperties=TOKEN_RESOURCE:api://t0k3n,ENVIRONMENT:azure", "t0k3n"),
    ],
)
def test_redact_hides_secret_option_values(query: str, secret: str) -> None:
    shown = redact(f"mongodb://host/db?{query}")
    assert secret not in shown and shown.startswith("mongodb://host/db?")


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://h1:27017,h2/db?replicaSet=rs&authSource=admin&w=majority",
        "mongodb://[::1]:27017/db?tls=true&tlsCAFile=/etc/ssl/ca.pem",
        "mongodb://%2Ftmp%2Fmongodb-27017.sock/db",
        "sqlite:///relative/path.db?timeout=5",
        "folder:///absolute/path",
    ],
)
def test_a_url_without_credentials_is_shown_as_given(url: str) -> None:
    assert redact(url) == url


# scrub: library messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message", "secrets"),
    [
        ("mongodb://user:p%40ss@h/db", "auth failed for user with p@ss and p%40ss", ("p@ss", "p%40ss", "user")),
        ("mongodb://u:12/34@h", "u:12: [Errno -2] Name or service not known", ("u:12", "34")),
        ("mongodb://u:s3#cret@h/db", "bad password s3#cret", ("s3#cret",)),
        ("mongodb://h/db?tlsCertificateKeyFilePassword=hunt%3Fer", "cannot open key with hunt?er", ("hunt?er",)),
        ("mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:t0k3n", "token t0k3n refused", ("t0k3n",)),
        ("mongodb://u:pw@h/db", "cannot reach mongodb://u:pw@h/db", ("u:pw",)),
    ],
)
def test_scrub_masks_every_form_of_a_secret_in_a_message(url: str, message: str, secrets: tuple[str, ...]) -> None:
    scrubbed = scrub(message, url)
    for secret in secrets:
        assert secret not in scrubbed, scrubbed


def test_scrub_leaves_words_that_merely_contain_a_short_user_name() -> None:
    message = "Username and password must be escaped according to RFC 3986, use urllib.parse.quote_plus"
    assert scrub(message, "mongodb://u:p:w@h/db") == message
