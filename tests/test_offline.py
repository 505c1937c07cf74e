"""Nothing leaves the machine: what the engines we load would send, they do not."""

from __future__ import annotations

from pathlib import Path

from .conftest import run


def test_onnxruntime_keeps_no_device_id_and_queues_nothing_to_send(tmp_path: Path) -> None:
    """A render in Piper's voice (nothing cached) runs onnxruntime, which since 1.29 writes
    a device id and an event store under ~/.cache/Microsoft for upload unless told not to.
    Run with a home of its own and without our setting in its environment: nothing may
    appear there."""
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "one.md"
    script.write_text("---\ntitle: Offline\nvoice: natural\n---\nRest here.\n")
    code, _, err = run(
        "render", str(script), "-o", str(tmp_path / "one.wav"),
        env={"HOME": str(home), "XDG_CACHE_HOME": "", "ORT_DISABLE_TELEMETRY": "",
             "SELFKIND_HOME": str(tmp_path / "selfkind"), "SELFKIND_VOICE": ""},
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "one.wav").stat().st_size > 0
    left = sorted(str(path.relative_to(home)) for path in home.rglob("*"))
    assert not any("Microsoft" in path or "onnxruntime" in path for path in left), left
