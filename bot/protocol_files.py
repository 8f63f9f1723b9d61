"""Reading protocol files: the shipped default, or an institution's own (design §6).

This is the one place that reads a protocol from disk; ``grading.protocol`` only parses text, so
the clinical core stays pure (design §1). Which file is active:

1. an explicit path (``toxbot protocol show --file FILE``, or a caller that knows), else
2. the ``TOXBOT_PROTOCOL`` environment variable, else
3. the default shipped as package data in ``grading/protocols/default.yaml``.

>>> load_protocol(environ={}).label
'toxbot-default 2026.1 (UNAPPROVED)'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Final

from grading.errors import FieldError
from grading.protocol import Protocol, ProtocolError, parse_protocol

PROTOCOL_ENV: Final = "TOXBOT_PROTOCOL"
DEFAULT_PACKAGE: Final = "grading.protocols"
DEFAULT_FILE: Final = "default.yaml"
DEFAULT_SOURCE: Final = f"the default protocol ({DEFAULT_PACKAGE}/{DEFAULT_FILE})"

_ACCEPTED: Final = "a readable protocol YAML file (toxbot protocol show prints the default)"


def default_protocol_text() -> str:
    """The YAML text of the default protocol, read from the installed package.

    Read through ``importlib.resources`` so it works the same from a checkout, an editable install
    or a wheel (where the file is package data, not a path next to the source).
    """
    return resources.files(DEFAULT_PACKAGE).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")


def protocol_path(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """The protocol file in force: ``path``, else ``TOXBOT_PROTOCOL``, else ``None`` (default).

    An empty ``TOXBOT_PROTOCOL`` counts as unset, so ``TOXBOT_PROTOCOL=`` restores the default.
    """
    if path is not None:
        return Path(path).expanduser()
    configured = environ.get(PROTOCOL_ENV, "").strip()
    return Path(configured).expanduser() if configured else None


def active_protocol_source(environ: Mapping[str, str] = os.environ) -> str:
    """Which file the bot's protocol comes from, in words, for logs, replies and the CLI."""
    path = protocol_path(environ=environ)
    return DEFAULT_SOURCE if path is None else f"{path} (set by {PROTOCOL_ENV})"


def read_protocol_text(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] = os.environ
) -> tuple[str, str]:
    """The active protocol's YAML text and its source in words (see :func:`load_protocol`).

    Raises :class:`ProtocolError` naming the path when the file is missing or unreadable, with a
    note (``__notes__``) giving the full path.
    """
    chosen = protocol_path(path, environ=environ)
    if chosen is None:
        return default_protocol_text(), DEFAULT_SOURCE
    source = str(chosen) if path is not None else f"{chosen} (set by {PROTOCOL_ENV})"
    try:
        return chosen.read_text(encoding="utf-8"), source
    except FileNotFoundError:
        problem = "no such protocol file"
    except IsADirectoryError:
        problem = "is a directory, not a protocol file"
    except PermissionError:
        problem = "permission denied reading the protocol file"
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        problem = f"cannot read the protocol file ({exc.strerror or exc.__class__.__name__})"
    where = "" if path is not None else f"; {PROTOCOL_ENV} names it"
    error = ProtocolError([FieldError("protocol", str(chosen), problem + where, _ACCEPTED)])
    error.add_note(f"protocol file: {source}")  # the full path, which messages may shorten
    raise error


def load_protocol(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] = os.environ
) -> Protocol:
    """Read and validate the active protocol: ``path``, else ``TOXBOT_PROTOCOL``, else the default.

    Raises :class:`ProtocolError`: for a missing or unreadable file, one error naming the path; for
    an invalid file, one error per problem with its path in the YAML. Either way a note naming the
    file (shown in tracebacks) says which file to fix when the bot fails at start-up.
    """
    text, source = read_protocol_text(path, environ=environ)
    try:
        return parse_protocol(text)
    except ProtocolError as exc:
        exc.add_note(f"protocol file: {source}")
        raise
