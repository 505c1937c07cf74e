"""Installing Vosk models from a zip, a folder and a URL (a file:// one: no network here)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from selfkind.listen import models as transcribe
from selfkind.listen.recognizers import open_recognizer

from .conftest import KO_MODEL, cli


@pytest.fixture()
def model_zip(tmp_path: Path) -> Path:
    folder = tmp_path / "vosk-model-small-ko"
    shutil.copytree(KO_MODEL, folder)
    return Path(
        shutil.make_archive(str(tmp_path / "vosk-model-small-ko"), "zip", tmp_path, folder.name)
    )


def test_install_list_use_and_remove(model_zip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = hashlib.sha256(model_zip.read_bytes()).hexdigest()
    code, out, err = cli(capsys, "models", "install", model_zip.as_uri(), "--sha256", digest)
    assert code == 0, err
    assert "Installed vosk-model-small-ko" in out
    assert transcribe.find_vosk_model().name == "vosk-model-small-ko"
    assert open_recognizer().name == "vosk"
    code, out, _ = cli(capsys, "models", "list")
    assert "vosk-model-small-ko  (used)" in out
    code, _, err = cli(capsys, "models", "install", str(model_zip))
    assert code == 1 and "already installed" in err
    assert cli(capsys, "models", "remove", "vosk-model-small-ko")[0] == 0
    assert transcribe.find_vosk_model() is None
    code, _, err = cli(capsys, "models", "remove", "vosk-model-small-ko")
    assert code == 2 and "no installed model" in err


def test_bad_sources_are_refused_and_leave_nothing(
    model_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "models", "install", str(model_zip), "--sha256", "0" * 64)
    assert code == 1 and "SHA-256 does not match" in err
    broken = tmp_path / "broken-model"
    (broken / "am").mkdir(parents=True)
    code, _, err = cli(capsys, "models", "install", str(broken))
    assert code == 1 and "missing am/final.mdl" in err
    not_zip = tmp_path / "model.zip"
    not_zip.write_text("hello")
    code, _, err = cli(capsys, "models", "install", str(not_zip))
    assert code == 1 and "not a zip file" in err
    assert [p.name for p in transcribe.models_dir().iterdir()] == []  # no half-installed model
