"""What a gateway puts on NATS for market data, and how subjects and keys are spelt.

Theory of operation: every message of one instrument carries the gateway's own sequence number
for that instrument (``seq``, one counter across all kinds), so a subscriber sees a lost message
as a gap whatever its venue does. Book messages are re-sequenced on that counter too: a
snapshot's ``seq`` is the envelope's, a delta's ``prev_seq`` is the envelope seq of the previous
book message of the instrument. A node's integrity layer therefore checks the gateway's stream
exactly as it checks a venue's (a gap -> STALE -> resync from a snapshot). Payloads are the
engine's own frozen msgspec events in MessagePack (compact, no schema translation), wrapped in a
small array-like envelope that also carries the gateway's wall-clock publish time (latency).

Subjects (``<p>`` is ``cluster.subject_prefix``)::

    <p>.md.<venue>.<token>.<kind>     kind: book | delta | trade | mark | summary
    <p>.mdreq.<venue>.<token>         request-reply: the current book as a ``book`` message
    KV <bucket>  <venue>.<token>      latest book snapshot;  <venue>._instruments: the list

``<token>`` is the symbol with every character other than ``A-Z a-z 0-9 _ -`` written as
``=XX`` (hex), which is valid in both NATS subjects and key-value keys and reversible.
"""

from __future__ import annotations

import msgspec

from engine.model import BookDelta, BookSnapshot, Instrument, MarkPrice, OptionSummary, Trade


class BookMsg(msgspec.Struct, frozen=True, array_like=True, gc=False):
    seq: int
    ts_pub: int
    event: BookSnapshot


class DeltaMsg(msgspec.Struct, frozen=True, array_like=True, gc=False):
    seq: int
    ts_pub: int
    event: BookDelta


class TradeMsg(msgspec.Struct, frozen=True, array_like=True, gc=False):
    seq: int
    ts_pub: int
    event: Trade


class MarkMsg(msgspec.Struct, frozen=True, array_like=True, gc=False):
    seq: int
    ts_pub: int
    event: MarkPrice


class SummaryMsg(msgspec.Struct, frozen=True, array_like=True, gc=False):
    seq: int
    ts_pub: int
    event: OptionSummary


class InstrumentList(msgspec.Struct, frozen=True):
    venue: str
    instruments: list[Instrument]


MdMsg = BookMsg | DeltaMsg | TradeMsg | MarkMsg | SummaryMsg
KIND_OF: dict[type, str] = {BookMsg: "book", DeltaMsg: "delta", TradeMsg: "trade", MarkMsg: "mark",
                            SummaryMsg: "summary"}
DECODERS: dict[str, msgspec.msgpack.Decoder] = {  # type: ignore[type-arg]
    kind: msgspec.msgpack.Decoder(cls) for cls, kind in KIND_OF.items()}
INSTRUMENTS_KEY = "_instruments"
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def token(symbol: str) -> str:
    """A symbol as one subject token / key-value key part (reversible, see the module doc)."""
    if all(c in _SAFE for c in symbol):
        return symbol
    return "".join(c if c in _SAFE else "".join(f"={b:02X}" for b in c.encode()) for c in symbol)


def untoken(tok: str) -> str:
    if "=" not in tok:
        return tok
    out = bytearray()
    i = 0
    while i < len(tok):
        if tok[i] == "=":
            out.append(int(tok[i + 1:i + 3], 16))
            i += 3
        else:
            out.extend(tok[i].encode())
            i += 1
    return out.decode()


def md_subject(prefix: str, instrument_id: str, kind: str) -> str:
    venue, _, symbol = instrument_id.partition(":")
    return f"{prefix}.md.{venue}.{token(symbol)}.{kind}"


def snapshot_request_subject(prefix: str, instrument_id: str) -> str:
    venue, _, symbol = instrument_id.partition(":")
    return f"{prefix}.mdreq.{venue}.{token(symbol)}"


def kv_key(instrument_id: str) -> str:
    venue, _, symbol = instrument_id.partition(":")
    return f"{venue}.{token(symbol)}"
