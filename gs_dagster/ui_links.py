"""Links into the Dagster UI (webserver 1.13) for one job.

The asset page's partitions view with one partition selected is how the UI itself links to a partition
(`?view=partitions&partition=<key>`): it shows that job's status, runs and latest materialization. A bare
`/assets/<key>` (or with only `?partition=`) opens the overview, which shows the latest materialization of
any partition: another job's.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

#: The asset a job's link opens: the last stage, whose materialization carries the delivered files.
WATCH_ASSET = "spz"


def partition_url(dagster_url: str, uuid: str, asset: str = WATCH_ASSET) -> str:
    """The asset's partitions view with the job's partition selected."""
    query = urlencode({"view": "partitions", "partition": uuid}, quote_via=quote)
    return f"{dagster_url.rstrip('/')}/assets/{quote(asset)}?{query}"
