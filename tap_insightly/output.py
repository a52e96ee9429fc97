"""Singer output without per-record overhead.

The SDK flushes stdout after every message and builds a message object per record.
Here records are encoded with msgspec (the SDK's own faster encoder) into a buffer that
is written out in large chunks, and always before the next STATE (or any other)
message: a record a crash leaves unwritten has no STATE after it either, so the next
run reads it again.
"""

from __future__ import annotations

import datetime
import sys
import time
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from typing_extensions import override

_UTC = datetime.timezone.utc
_CHUNK = 1 << 18


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec-encoded messages; RECORDs buffered, everything else flushed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = bytearray()

    def drain(self) -> None:
        if self.pending:
            sys.stdout.buffer.write(self.pending)
            self.pending.clear()

    def drop_partial_record(self) -> None:
        """Forget a record cut short (a signal handler may run between its JSON and its
        newline): what follows it must start on a line of its own."""
        del self.pending[self.pending.rfind(b"\n") + 1 :]

    @override
    def write_message(self, message: t.Any) -> None:  # noqa: ANN401
        self.drain()
        sys.stdout.buffer.write(self.format_message(message))
        sys.stdout.flush()

    def record_writer(self, stream_alias: str) -> t.Callable[[dict], None]:
        """A function writing one RECORD message (the same JSON as the SDK's)."""
        encode_into = encoder.encode_into
        pending = self.pending
        drain = self.drain

        clock = {"second": 0, "text": ""}

        def write(record: dict) -> None:
            now = time.time()
            if int(now) != clock["second"]:
                # time_extracted at one-second precision: formatted once a second.
                clock["second"] = int(now)
                clock["text"] = datetime.datetime.fromtimestamp(int(now), _UTC).isoformat()
            message = {
                "type": "RECORD",
                "stream": stream_alias,
                "record": record,
                "time_extracted": clock["text"],
            }
            encode_into(message, pending, -1)
            pending.extend(b"\n")
            if len(pending) > _CHUNK:
                drain()

        return write
