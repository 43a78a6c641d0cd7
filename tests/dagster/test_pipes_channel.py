"""The Pipes channel of local launches survives a torn line and a garbage line (issue 15, class 6).

A stage process that writes, into its Pipes message file, a progress message in two parts with a pause
between them (what a reader tailing the file sees half of), then a line that is not JSON, then a cut-off
line, then reports its materialization normally: every good message reaches Dagster, the bad lines are
named in the run's log, and the run succeeds.
"""

import sys
import textwrap
from pathlib import Path

import dagster as dg

from gs_dagster.resources.pipes_file_reader import complete_lines
from gs_dagster.resources.pipes_stream import StreamingPipesSubprocessClient

STAGE_PROCESS = textwrap.dedent(
    """
    import json, time
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes
    from gs_stages.progress import ProgressUpdate

    path = PipesEnvVarParamsLoader().load_messages_params()["path"]

    def raw(text):
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()

    with open_dagster_pipes() as pipes:
        update = ProgressUpdate("splat", "training", 5, 10, 1.0, 2.0, {"loss": 0.25, "Gaussians": 1000})
        padding = "x" * 300_000  # a long line, as the inline preview image made
        line = json.dumps({"__dagster_pipes_version": "0.1", "method": "report_custom_message",
                           "params": {"payload": {**update.to_message(), "padding": padding}}})
        raw(line[: len(line) // 2])
        time.sleep(1.0)
        raw(line[len(line) // 2 :] + "\\n")
        raw("this is not JSON\\n")
        raw("[1, 2, 3]\\n")
        pipes.report_asset_materialization(asset_key="splat", metadata={"psnr": 21.5})
        pipes.report_custom_message(ProgressUpdate("splat", "training", 10, 10, 2.0).to_message())
    raw('{"__dagster_pipes_version": "0.1", "method": "log", "par')  # cut off: the process ends mid-line
    """
)


def test_a_torn_line_and_garbage_lines_lose_no_message(tmp_path: Path) -> None:
    script = tmp_path / "stage.py"
    script.write_text(STAGE_PROCESS)
    seen: list[object] = []

    @dg.multi_asset(specs=[dg.AssetSpec("splat")], partitions_def=dg.StaticPartitionsDefinition(["job-1"]))
    def reconstruction(context: dg.AssetExecutionContext):
        client = StreamingPipesSubprocessClient(forward_stdio=True)
        for item in client.stream(context=context, command=[sys.executable, str(script)], poll_s=0.05):
            seen.append(item)
            yield item

    with dg.instance_for_test() as instance:
        result = dg.materialize([reconstruction], instance=instance, partition_key="job-1")
        assert result.success
        (materialization,) = result.asset_materializations_for_node("reconstruction")
        assert materialization.metadata["psnr"].value == 21.5
        observations = [e.asset_observation_data.asset_observation for e in result.get_asset_observation_events()]
        assert [o.metadata["progress/step"].value for o in observations] == [5, 10]  # the torn one arrived whole
        assert observations[0].metadata["progress/loss"].value == 0.25 and observations[0].partition == "job-1"
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if "[pipes] skipped" in e.user_message]
        assert len(warnings) == 3, warnings
        assert "not JSON" in warnings[0] and "this is not JSON" in warnings[0]
        assert "not a Pipes message" in warnings[1]
        assert "cut off when the stage process ended" in warnings[2]
        texts = [e.user_message for e in instance.all_logs(result.run_id)]
        assert "splat training: step 5/10 (50%), loss 0.25, 1,000 Gaussians, ETA 2s" in texts


def test_complete_lines_keeps_the_partial_tail() -> None:
    assert complete_lines("", '{"a": 1}\n{"b"') == (['{"a": 1}'], '{"b"')
    assert complete_lines('{"b"', ": 2}\n") == (['{"b": 2}'], "")
    assert complete_lines("", "no newline yet") == ([], "no newline yet")
