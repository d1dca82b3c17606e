import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import matplotlib.image

SPEED = 7600.0
"""x real time: the 1,900 one-minute steps stream for about 15 s, long enough for a
reader of the alert topic to start beside the running demo."""


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    return lines


def next_line(lines: queue.Queue[str], pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        line = lines.get(timeout=600)
        seen.append(line)
        if found := re.search(pattern, line):
            return found


def test_demo_runs_end_to_end_and_alerts_follow_shows_its_alerts(tmp_path: Path) -> None:
    # The demo's settings take the environment like every command's; a short fit is
    # enough for what this checks (the path through Kafka and the table's shape).
    env = {**os.environ, "STREAM_AE_MODEL__EPOCHS": "15"}
    command = ["demo", "--out", str(tmp_path), "--sensors", "4", "--steps", "1900", "-q"]
    demo = subprocess.Popen(
        [sys.executable, "-m", "stream_ae", *command, "--speed", str(SPEED)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    printed: list[str] = []
    follower: subprocess.Popen[str] | None = None
    try:
        demo_lines = lines_of(demo)
        next_line(demo_lines, r"broker listening on 127\.0\.0\.1:\d+", printed)
        follow = next_line(demo_lines, r"follow its alerts: stream-ae (.*)$", printed)[1]
        # The command the demo prints, run beside it as a reader at a terminal would.
        follower = subprocess.Popen(
            [sys.executable, "-m", "stream_ae", *follow.split()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        followed = lines_of(follower).get(timeout=120)
        assert " open " in followed and re.search(r" plant-\d+/\w+-\d+ score ", followed), followed
        assert demo.poll() is None  # the demo was still running
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 130
        assert demo.wait(timeout=600) == 0
        while not demo_lines.empty() or (demo.stdout and not demo.stdout.closed):
            try:
                printed.append(demo_lines.get(timeout=2))
            except queue.Empty:
                break
    finally:
        for proc in (follower, demo):
            if proc is not None and proc.poll() is None:
                proc.kill()
    text = "".join(printed)
    assert "7,600 points scored through Kafka" in text
    assert "of 4 units (flow, pressure, temperature, vibration)" in text
    # The closing table: one row per injected kind present, and the overall figures,
    # with how much of each fault an alert covered.
    assert "all " in text and "precision" in text and "median delay" in text
    header = next(line for line in text.splitlines() if line.startswith("kind "))
    assert header.split()[-3:] == ["point", "recall", "open/length"]
    overall = next(line for line in text.splitlines() if line.startswith("all "))
    assert all(0.0 <= float(cell) <= 1.0 for cell in overall.split()[-2:])
    image = matplotlib.image.imread(tmp_path / "demo.png")
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert any((tmp_path / "models").iterdir())
