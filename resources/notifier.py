"""Tell people what happened to a job: SNS in AWS mode; the log plus a local outbox file otherwise.

`target` is `log` (embedded default: every notice is logged and written as one JSON file under the
outbox directory) or an SNS topic ARN (`arn:aws:sns:...`; the notice is published with the subject,
the text, and message attributes `uuid` and `event` that subscriptions can filter on).

Whatever a notice holds, it is sent within SNS's limits (resources/text_bounds.py): the message at most
256 KB with its attributes, saying how much was left out, the subject ASCII, one line, at most 100
characters. The outbox file is bounded the same way.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from gs_dagster.resources.aws_clients import aws_client
from gs_dagster.resources.text_bounds import bound_text, cut_chars

log = logging.getLogger("gs_dagster.notifier")

#: A notice's `event`: a run's outcome (COMPLETE, FAILED, CANCELED), FAILED at intake, or DUPLICATE.
#: SNS takes 262,144 bytes with the message attributes; the text keeps room for them and the envelope.
MAX_MESSAGE_BYTES = 240_000
MAX_ATTRIBUTE_BYTES = 1_000
MAX_SUBJECT_CHARS = 100


@dataclass(frozen=True)
class Notice:
    uuid: str
    event: str
    subject: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)  # machine-readable: outputs, metrics, error

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds")}

    def bounded(self) -> Notice:
        """This notice within SNS's limits, whatever its text and details hold."""
        details = {
            k: bound_text(v, max_bytes=MAX_MESSAGE_BYTES // 4) if isinstance(v, str) else v
            for k, v in self.details.items()
        }
        return Notice(
            uuid=cut_chars(self.uuid, MAX_ATTRIBUTE_BYTES),
            event=cut_chars(self.event, MAX_ATTRIBUTE_BYTES),
            subject=_subject(self.subject),
            text=bound_text(self.text, max_bytes=MAX_MESSAGE_BYTES),
            details=details,
        )


class NotifierResource(dg.ConfigurableResource):
    """`log` (log + outbox files) or an SNS topic ARN."""

    target: str = Field(default="log", description="'log', or an SNS topic ARN (arn:aws:sns:region:account:name)")
    outbox_dir: str | None = Field(default=None, description="where `log` writes one JSON file per notice")
    endpoint_url: str | None = Field(default=None, description="SNS endpoint (moto, LocalStack)")
    region: str | None = None
    dagster_url: str = Field(default="http://127.0.0.1:3000", description="base of the run links in notices")

    @property
    def uses_sns(self) -> bool:
        return self.target.startswith("arn:")

    def notify(self, notice: Notice, logger: Any = None) -> str:
        """Send one notice; returns where it went (the SNS message id or the outbox file)."""
        logger = logger or log
        notice = notice.bounded()
        logger.info("notice %s %s: %s\n%s", notice.event, notice.uuid, notice.subject, notice.text)
        if self.uses_sns:
            region = self.region or self.target.split(":")[3] or None
            response = aws_client("sns", self.endpoint_url, region).publish(
                TopicArn=self.target,
                Subject=notice.subject,
                Message=notice.text,
                MessageAttributes={
                    "uuid": {"DataType": "String", "StringValue": notice.uuid},
                    "event": {"DataType": "String", "StringValue": notice.event},
                },
            )
            return response["MessageId"]
        if not self.outbox_dir:
            return "log"
        outbox = Path(self.outbox_dir).expanduser()
        outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", notice.uuid)[:64] or "job"
        path = outbox / f"{stamp}-{safe}-{notice.event.lower()}.json"
        part = path.with_name("." + path.name + ".part")
        part.write_text(json.dumps(notice.to_json(), indent=2))
        part.replace(path)
        return str(path)

    def outbox(self) -> list[dict[str, Any]]:
        """The notices in the local outbox, oldest first (empty for SNS)."""
        if self.uses_sns or not self.outbox_dir or not Path(self.outbox_dir).is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(Path(self.outbox_dir).glob("*.json"))]


def _subject(text: str) -> str:
    """SNS subjects: printable ASCII, one line, at most 100 characters, not empty."""
    clean = re.sub(r"[^\x20-\x7e]", "?", re.sub(r"\s+", " ", text)).strip()
    if len(clean) > MAX_SUBJECT_CHARS:
        clean = clean[: MAX_SUBJECT_CHARS - 3].rstrip() + "..."
    return clean or "gs-dagster notice"
