"""What a journal record is: the journal's errors, the engine's own record types, the decode table.

Every record is ``(seq, ts, direction, type name, object)``: ``direction`` is ``out`` for a
command (journaled before it is sent) and ``in`` for a venue or engine event. The object is
one of ``engine.model.orders``' messages or one of the engine records below (events that are
not domain events, kept for the audit trail and the restart); ``RECORD_TYPES`` maps a type
name back to its class, so a reader decodes a payload to the type it was written as (an
unknown name decodes to plain JSON, never an error). Both the writer (``engine.journal``) and
the read/audit side (``engine.journal_read``) use this module; it depends on the model only.

In a log a record is one line of JSON, ``[seq,ts,"direction","Type",{object}]`` and a newline
(``LOG_FORMAT`` 1, the only format written so far): the journal encodes the whole line in one
call (``encode_line``); ``parse_lines`` turns lines back into store rows, keeping each
object's JSON exactly as written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine.model import orders as _orders

Row = tuple[int, int, str, str, bytes]
"""A stored record: ``(seq, ts, direction, type name, JSON payload)``."""

LOG_FORMAT = 1
"""The log line's layout (above). A change of layout gets a new number and a parser that
still reads the old lines."""

encode_line = msgspec.json.Encoder().encode_into
"""``encode_line((seq, ts, direction, type name, object), buffer, -1)``: a log line without
its newline, appended to ``buffer`` (a JSON array of the five, byte for byte what
``parse_lines`` reads)."""
_LINE = msgspec.json.Decoder(tuple[int, int, str, str, msgspec.Raw])


RawRow = tuple[int, int, str, str, msgspec.Raw]
"""A record as decoded from complete log lines: the object's JSON left undecoded (SQLite
stores it as a BLOB, ``decode_rows`` decodes it) and sharing the lines' memory."""
_LINES = msgspec.json.Decoder(list[RawRow])


def decode_lines(data: bytes) -> list[RawRow]:
    """Complete log lines (as committed) → rows, in one call (a batch's decoding holds the
    interpreter's lock once, briefly, instead of once per line). ``msgspec.DecodeError`` if
    a line does not decode."""
    return _LINES.decode(b"[%s]" % data.rstrip(b"\n").replace(b"\n", b","))


def parse_lines(data: bytes) -> list[Row]:
    """Log lines → store rows, up to the first line that does not decode (a torn last write:
    never committed, so never acted on)."""
    rows: list[Row] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            seq, ts, direction, type_name, raw = _LINE.decode(line)
        except msgspec.DecodeError:
            break
        rows.append((seq, ts, direction, type_name, bytes(raw)))
    return rows


class JournalError(RuntimeError):
    """The journal cannot write; the message names the journal and the cause."""


class JournalLocked(JournalError):
    """Another process holds the journal."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"journal {path} is in use by {who}; stop it or use another journal")
        self.path = path
        self.pid = pid


class KillSwitchTripped(msgspec.Struct, frozen=True, kw_only=True):
    """The kill switch changed level (0 = cleared) and why; journaled for the audit trail."""

    level: int
    reason: str
    source: str
    ts: int


class PositionAdjusted(msgspec.Struct, frozen=True, kw_only=True):
    """Reconciliation set a position to the venue's view (the venue wins), or a venue settled
    it at expiry (``settlement``)."""

    instrument_id: str
    quantity: float
    avg_price: float
    previous: float
    reason: str
    ts: int
    close_price: float = 0.0
    """The price the part that went away was realized at (the position's mark; 0: none)."""
    settlement: bool = False
    """A venue's settlement at expiry (``PositionSettled``): ``close_price`` is the settlement
    price even at 0 (an option that expired worthless: its premium is realized as lost)."""


class ReconciliationCompleted(msgspec.Struct, frozen=True, kw_only=True):
    """One venue was reconciled; ``differences`` counts what was found and resolved."""

    venue: str
    differences: int
    ts: int


RECORD_TYPES: dict[str, type] = {
    name: obj for name, obj in vars(_orders).items()
    if isinstance(obj, type) and issubclass(obj, msgspec.Struct)
}
RECORD_TYPES.update({c.__name__: c for c in (KillSwitchTripped, PositionAdjusted,
                                              ReconciliationCompleted)})


def decode_rows(rows: list[Any]) -> Iterator[tuple[int, int, str, str, Any]]:
    """Stored rows → ``(seq, ts, direction, type name, object)``, the object of its type."""
    for seq, ts, direction, type_name, payload in rows:
        cls = RECORD_TYPES.get(type_name)
        obj = msgspec.json.decode(payload, type=cls) if cls else msgspec.json.decode(payload)
        yield seq, ts, direction, type_name, obj
