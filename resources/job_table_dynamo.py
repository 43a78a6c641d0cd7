"""The job table in DynamoDB (AWS mode): partition key `uuid` (S), on-demand billing, conditional writes.

A batch read's UnprocessedKeys (throttling) are retried with exponential back-off and jitter, a bounded
number of times, then reported as a JobTableError, never in a tight loop. Any other failure of the
service (throttled writes past botocore's retries, an unreachable endpoint) is a JobTableError naming
the table.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from gs_dagster.resources import job_table as table_schema
from gs_dagster.resources.aws_clients import aws_resource
from gs_dagster.resources.job_table import JobRecord, JobTable, JobTableError, WriteCondition

#: Attempts at a batch read's unprocessed keys, and the back-off between them (doubling, with jitter).
UNPROCESSED_ATTEMPTS = 6
UNPROCESSED_BASE_S = 0.05
UNPROCESSED_MAX_S = 5.0


def backoff_s(attempt: int) -> float:
    """Exponential back-off with jitter: between half and all of base * 2**attempt (at most UNPROCESSED_MAX_S),
    so retries spread out but never come back at once."""
    cap = min(UNPROCESSED_MAX_S, UNPROCESSED_BASE_S * 2**attempt)
    return cap / 2 + random.uniform(0, cap / 2)


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


class DynamoJobTable(JobTable):
    def __init__(
        self, table_name: str, *, endpoint_url: str | None = None, region: str | None = None, create: bool = True
    ):
        self.resource = aws_resource("dynamodb", endpoint_url, region)
        self.table_name = table_name
        self.table = self.resource.Table(table_name)
        if create:
            self._ensure_table()

    def _ensure_table(self) -> None:
        client = self.resource.meta.client
        try:
            client.describe_table(TableName=self.table_name)
        except client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(client.exceptions.ResourceInUseException):
                client.create_table(
                    TableName=self.table_name,
                    KeySchema=[{"AttributeName": "uuid", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "uuid", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            client.get_waiter("table_exists").wait(TableName=self.table_name)

    @staticmethod
    def _record(item: Mapping[str, Any]) -> JobRecord:
        values = {k: _from_dynamo(v) for k, v in item.items() if k in table_schema.FIELD_NAMES}
        if "elapsed_s" in values and values["elapsed_s"] is not None:
            values["elapsed_s"] = float(values["elapsed_s"])
        return JobRecord(**values)

    @contextlib.contextmanager
    def _service(self, action: str) -> Iterator[None]:
        """Failures of the service other than a failed condition, as a JobTableError naming the table."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            raise JobTableError(f"the job table (DynamoDB {self.table_name}) could not {action}: {exc}") from exc
        except BotoCoreError as exc:
            raise JobTableError(f"the job table (DynamoDB {self.table_name}) could not {action}: {exc}") from exc

    def _create(self, values: Mapping[str, Any]) -> bool:
        client = self.resource.meta.client
        item = {k: _to_dynamo(v) for k, v in values.items() if v is not None}
        try:
            with self._service("be written"):
                self.table.put_item(
                    Item=item, ConditionExpression="attribute_not_exists(#u)", ExpressionAttributeNames={"#u": "uuid"}
                )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, uuid: str) -> JobRecord | None:
        with self._service("be read"):
            item = self.table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return self._record(item) if item else None

    def get_many(self, uuids: Iterable[str], fields: Sequence[str] | None = None) -> dict[str, JobRecord]:
        wanted = list(dict.fromkeys(uuids))
        spec: dict[str, Any] = {"ConsistentRead": True}
        if fields:
            names = list(dict.fromkeys(["uuid", *(f for f in fields if f in table_schema.FIELD_NAMES)]))
            spec["ProjectionExpression"] = ", ".join(f"#p{i}" for i in range(len(names)))
            spec["ExpressionAttributeNames"] = {f"#p{i}": n for i, n in enumerate(names)}
        # The resource's client (thread-safe, unlike resources) converts DynamoDB types both ways.
        client = self.resource.meta.client

        def batch(keys: list[str]) -> list[JobRecord]:
            records: list[JobRecord] = []
            request = {self.table_name: {**spec, "Keys": [{"uuid": k} for k in keys]}}
            for attempt in range(UNPROCESSED_ATTEMPTS + 1):
                if attempt:
                    time.sleep(backoff_s(attempt))  # throttled: wait longer each time instead of spinning
                with self._service("be read"):
                    response = client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table_name, []):
                    records.append(self._record(item))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    return records
            left = len(request.get(self.table_name, {}).get("Keys", []))
            raise JobTableError(
                f"the job table (DynamoDB {self.table_name}) left {left} key(s) unprocessed after "
                f"{UNPROCESSED_ATTEMPTS} retries with back-off (throttled: raise the table's capacity or read "
                "less at once)"
            )

        chunks = [wanted[i : i + 100] for i in range(0, len(wanted), 100)]
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(chunks)))) as pool:
            return {r.uuid: r for records in pool.map(batch, chunks) for r in records}

    def list(self, *, limit: int = 50, status: str | None = None) -> list[JobRecord]:
        # A scan: fine for an operator's listing; the hot paths use get/get_many by key.
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {}
        while True:
            with self._service("be listed"):
                response = self.table.scan(**kwargs)
            records.extend(self._record(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        if status:
            records = [r for r in records if r.status == status]
        records.sort(key=lambda r: r.submitted_at, reverse=True)
        return records[:limit]

    def _update(self, uuid: str, changes: Mapping[str, Any], when: WriteCondition) -> bool:
        expect, newer_run, unless_ended = when.expect, when.newer_run, when.unless_ended
        client = self.resource.meta.client
        names: dict[str, str] = {"#uuid": "uuid"}
        values: dict[str, Any] = {}
        sets, removes = [], []
        for i, (k, v) in enumerate(changes.items()):
            names[f"#f{i}"] = k
            if v is None:
                removes.append(f"#f{i}")
            else:
                values[f":v{i}"] = _to_dynamo(v)
                sets.append(f"#f{i} = :v{i}")
        conditions = ["attribute_exists(#uuid)"]
        for i, (k, v) in enumerate(expect.items()):
            names[f"#e{i}"] = k
            if v in (None, ""):
                values[":empty"] = ""
                conditions.append(f"(attribute_not_exists(#e{i}) OR #e{i} = :empty)")
            else:
                values[f":e{i}"] = v
                conditions.append(f"#e{i} = :e{i}")
        if newer_run:
            names["#started"] = "started_at"
            values[":newer"] = newer_run
            values[":empty"] = ""
            conditions.append("(attribute_not_exists(#started) OR #started = :empty OR #started <= :newer)")
        if unless_ended:
            names.update({"#run": "run_id", "#status": "status"})
            values[":ended_run"] = unless_ended
            ended = ", ".join(f":ended{i}" for i in range(len(table_schema.TERMINAL)))
            values.update({f":ended{i}": s for i, s in enumerate(table_schema.TERMINAL)})
            conditions.append(f"NOT (#run = :ended_run AND #status IN ({ended}))")
        expression = ("SET " + ", ".join(sets)) if sets else ""
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            with self._service("be written"):
                self.table.update_item(
                    Key={"uuid": uuid},
                    UpdateExpression=expression.strip(),
                    ConditionExpression=" AND ".join(conditions),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def claim_notice(self, uuid: str, run_id: str) -> bool:
        client = self.resource.meta.client
        try:
            with self._service("be written"):
                self.table.update_item(
                    Key={"uuid": uuid},
                    UpdateExpression="SET #n = list_append(if_not_exists(#n, :none), :run)",
                    ConditionExpression="attribute_exists(#u) AND NOT contains(#n, :id)",
                    ExpressionAttributeNames={"#n": "notified_runs", "#u": "uuid"},
                    ExpressionAttributeValues={":none": [], ":run": [run_id], ":id": run_id},
                )
        except client.exceptions.ConditionalCheckFailedException:
            return False
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException), self._service("be written"):
            self.table.update_item(  # the oldest claim goes when there are more than MAX_NOTIFIED_RUNS
                Key={"uuid": uuid},
                UpdateExpression="REMOVE #n[0]",
                ConditionExpression="size(#n) > :max",
                ExpressionAttributeNames={"#n": "notified_runs"},
                ExpressionAttributeValues={":max": table_schema.MAX_NOTIFIED_RUNS},
            )
        return True

    def release_notice(self, uuid: str, run_id: str) -> None:
        client = self.resource.meta.client
        record = self.get(uuid)
        if record is None or run_id not in record.notified_runs:
            return
        index = record.notified_runs.index(run_id)
        with contextlib.suppress(client.exceptions.ConditionalCheckFailedException), self._service("be written"):
            self.table.update_item(
                Key={"uuid": uuid},
                UpdateExpression=f"REMOVE #n[{index}]",
                ConditionExpression=f"#n[{index}] = :id",
                ExpressionAttributeNames={"#n": "notified_runs"},
                ExpressionAttributeValues={":id": run_id},
            )
