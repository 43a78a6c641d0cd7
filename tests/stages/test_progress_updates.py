"""Progress updates of a stage phase: throttled by time (first and last always), ETA from the recent pace,
and the message form the Dagster side reads back (gs_stages/progress.py)."""

from gs_stages.progress import ProgressTracker, ProgressUpdate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_are_throttled_by_time_with_the_first_and_last_always_sent() -> None:
    clock, sent = Clock(), []
    tracker = ProgressTracker("splat", "training", 1000, sent.append, interval_s=25, clock=clock)
    evaluated = []

    def figures() -> dict[str, float]:
        evaluated.append(1)
        return {"loss": 0.5}

    for step in range(0, 1001):  # one step every 1/8 s: 125 s in all
        tracker.update(step, figures)
        clock.now += 0.125
    assert [u.step for u in sent] == [0, 200, 400, 600, 800, 1000]
    assert len(evaluated) == len(sent)  # the costly figures only for what was sent
    assert sent[0].eta_s is None and sent[-1].eta_s is None
    assert sent[1].eta_s == 100.0  # 800 steps left at 8 steps a second
    assert sent[1].elapsed_s == 25.0
    assert tracker.update(1000) is False  # the last step is not sent twice


def test_a_phase_that_ends_short_of_its_total_is_sent_when_told() -> None:
    clock, sent = Clock(), []
    tracker = ProgressTracker("sparse_model", "mapping", 16, sent.append, interval_s=20, clock=clock, eta=False)
    tracker.update(0)
    clock.now += 1
    assert tracker.update(12, {"registered images": 12}) is False
    assert tracker.update(12, {"registered images": 12}, last=True) is True
    assert sent[-1].text() == "sparse_model mapping: step 12/16 (75%), registered images 12"


def test_an_update_survives_its_message_form_and_bad_messages_are_not_updates() -> None:
    update = ProgressUpdate("splat", "training", 1200, 7000, 60.0, 250.0, {"loss": 0.0412, "Gaussians": 120345})
    assert ProgressUpdate.from_message(update.to_message()) == update
    assert update.text() == "splat training: step 1,200/7,000 (17%), loss 0.0412, 120,345 Gaussians, ETA 4m 10s"
    assert ProgressUpdate.from_message({"event": "stage_failed", "stage": "splat"}) is None
    assert ProgressUpdate.from_message({"event": "progress", "stage": "splat"}) is None  # no step
    assert ProgressUpdate.from_message("progress") is None


def test_the_eta_follows_a_changing_pace_smoothly() -> None:
    clock, sent = Clock(), []
    tracker = ProgressTracker("splat", "training", 10_000, sent.append, interval_s=10, clock=clock)
    tracker.update(0)
    step = 0
    for seconds_per_step in (0.1, 0.1, 0.5, 0.1):  # one slow window (another job took the CPU)
        clock.now += 10
        step += round(10 / seconds_per_step)
        tracker.update(step)
    etas = [round(u.eta_s) for u in sent[1:]]
    assert etas[0] == round((10_000 - 100) * 0.1) and etas[1] == round((10_000 - 200) * 0.1)
    slow = (10_000 - 220) * (0.3 * 0.5 + 0.7 * 0.1)
    assert etas[2] == round(slow)  # up, but not five times up
    assert etas[3] < etas[2]
