"""Installing Vosk and Whisper models from a zip, a folder and a URL (a file:// one: no
network here), told apart by their files.

One test installs the real (Korean) model end to end; the others use small made-up
folders laid out as Vosk's models are, for what installing checks and refuses."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from selfkind.listen import models as transcribe
from selfkind.listen.recognizers import choose, open_recognizer, whisper

from .conftest import KO_MODEL, cli

OPENFST = bytes.fromhex("d6fdb27e")


def made_up_model(folder: Path) -> Path:
    """A small folder laid out as a Vosk model, its files beginning as Vosk's do, that Vosk
    cannot load: for what installing checks, never for recognition."""
    for part, data in {
        "am/final.mdl": b"\0B<TransitionModel> " + bytes(2000),
        "conf/model.conf": b"--beam=10.0\n",
        "conf/mfcc.conf": b"--use-energy=false\n",
        "graph/HCLr.fst": OPENFST + bytes(1000),
        "graph/Gr.fst": OPENFST + bytes(1000),
    }.items():
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        (folder / part).write_bytes(data)
    return folder


def _zip(folder: Path) -> Path:
    return Path(shutil.make_archive(str(folder), "zip", folder.parent, folder.name))


def _nothing_installed() -> bool:
    return not transcribe.models_dir().exists() or not any(transcribe.models_dir().iterdir())


@pytest.fixture()
def model_zip(tmp_path: Path) -> Path:
    """The real model, zipped as Vosk's are (one top folder), stored, not compressed: fast."""
    archive = tmp_path / "vosk-model-small-ko.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        for path in sorted(KO_MODEL.rglob("*")):
            if path.is_file():
                bundle.write(path, f"vosk-model-small-ko/{path.relative_to(KO_MODEL)}")
    return archive


def test_install_list_use_and_remove(model_zip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = hashlib.sha256(model_zip.read_bytes()).hexdigest()
    code, out, err = cli(capsys, "models", "install", model_zip.as_uri(), "--sha256", digest)
    assert code == 0, err
    assert "Installed vosk-model-small-ko" in out
    assert transcribe.find_vosk_model().name == "vosk-model-small-ko"
    assert open_recognizer("vosk").name == "vosk"
    # Whisper, when installed, comes first; Vosk's model is used when Whisper is not.
    used = "whisper" if transcribe.find_whisper_model() else "vosk"
    assert open_recognizer().name == used
    code, out, _ = cli(capsys, "models", "list")
    mark = ", used" if used == "vosk" else ""
    assert f"vosk-model-small-ko  (vosk{mark})" in out
    code, _, err = cli(capsys, "models", "install", str(model_zip))
    assert code == 1 and "already installed" in err
    assert cli(capsys, "models", "remove", "vosk-model-small-ko")[0] == 0
    assert transcribe.find_vosk_model() is None
    code, _, err = cli(capsys, "models", "remove", "vosk-model-small-ko")
    assert code == 2 and "no installed model" in err


def test_bad_sources_are_refused_and_leave_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made_up = made_up_model(tmp_path / "vosk-model-made-up")
    archive = _zip(made_up)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    broken = tmp_path / "broken-model"
    (broken / "am").mkdir(parents=True)
    not_zip = tmp_path / "model.zip"
    not_zip.write_text("hello")
    junk = made_up_model(tmp_path / "junk")  # the right names, not Vosk's files
    (junk / "am/final.mdl").write_text("junk")
    cases = [
        ((str(archive), "--sha256", "0" * 64), 1, "SHA-256 does not match"),
        ((archive.as_uri(), "--sha256", "0" * 64), 1, "SHA-256 does not match"),
        ((str(archive), "--sha256", ""), 2, "--sha256: '' is not a SHA-256"),
        ((str(made_up), "--sha256", digest), 2, "is a folder, which has no single SHA-256"),
        ((str(broken),), 1, "missing am/final.mdl"),
        ((str(not_zip),), 1, "not a zip file"),
        ((str(junk),), 1, "not a usable Vosk model: am/final.mdl not as Vosk writes them"),
        ((str(archive), "--sha256", digest), 1, "Vosk cannot load the model (Failed to read"),
        ((str(made_up),), 1, "Vosk cannot load the model"),
    ]
    for args, status, said in cases:
        code, _, err = cli(capsys, "models", "install", *args)
        assert code == status and said in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert _nothing_installed(), args  # no half-installed model, no temporary folder


def test_a_junk_model_folder_is_never_the_default(tmp_path: Path) -> None:
    """Put there by hand (not installed): with the right names but not Vosk's files, it
    is passed over, where before it became the default and every transcription failed."""
    junk = made_up_model(transcribe.models_dir() / "aaa-junk")
    (junk / "graph/Gr.fst").write_text("junk")
    try:
        assert transcribe.find_vosk_model() is None
    finally:
        shutil.rmtree(junk)


def test_a_zip_that_would_unpack_too_big_is_refused_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = made_up_model(tmp_path / "vosk-model-bomb")
    (model / "padding").write_bytes(bytes(8 << 20))  # 8 MiB of zeros: a zip of a few KiB
    archive = _zip(model)
    assert archive.stat().st_size < 64 << 10
    monkeypatch.setattr(transcribe, "MAX_UNPACKED_BYTES", 4 << 20)
    code, _, err = cli(capsys, "models", "install", str(archive))
    assert code == 1 and "would unpack to 8.0 MiB, more than any model (at most 4.0 MiB)" in err
    assert _nothing_installed()
    monkeypatch.setattr(transcribe, "MAX_UNPACKED_BYTES", 1 << 20)
    endless = tmp_path / "endless.zip"
    endless.write_bytes(bytes(3 << 20))  # a download bigger than any model: stopped
    code, _, err = cli(capsys, "models", "install", endless.as_uri())
    assert code == 1 and "more than 1.0 MiB, larger than any model" in err, err
    assert _nothing_installed()


def test_links_out_of_a_model_folder_are_never_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, a link to /etc was copied into the model, and a link loop ran for 57 s and
    printed a 2 MB traceback."""
    cases = {
        "etc": (Path("/etc"), "is a link to a folder"),
        "passwd": (Path("/etc/passwd"), "links to /etc/passwd, outside the model folder"),
        "loop": (Path("loop"), "is a broken link or a link loop"),
        "up": (Path(".."), "is a link to a folder"),
        "gone": (Path("nowhere"), "is a broken link or a link loop"),
    }
    for name, (target, said) in cases.items():
        model = made_up_model(tmp_path / name / "vosk-model-linked")
        (model / "graph" / name).symlink_to(target)
        began = time.monotonic()
        code, _, err = cli(capsys, "models", "install", str(model))
        assert time.monotonic() - began < 2
        assert code == 1 and f"{model / 'graph' / name} {said}" in err, err
        assert len(err.strip().splitlines()) == 1 and _nothing_installed()
    fifo_model = made_up_model(tmp_path / "fifo" / "vosk-model-fifo")
    os.mkfifo(fifo_model / "conf" / "pipe")
    code, _, err = cli(capsys, "models", "install", str(fifo_model))
    assert code == 1 and "is not a regular file" in err and _nothing_installed()


def test_a_link_to_a_file_inside_the_folder_is_copied_as_that_file(tmp_path: Path) -> None:
    model = made_up_model(tmp_path / "vosk-model-linked")
    (model / "conf" / "same.conf").symlink_to("model.conf")
    copy = tmp_path / "copy"
    transcribe._copy_folder(model, copy)
    same = copy / "conf" / "same.conf"
    assert not same.is_symlink() and same.read_bytes() == (model / "conf/model.conf").read_bytes()
    assert sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file()) == sorted(
        p.relative_to(model) for p in model.rglob("*") if p.is_file() or p.is_symlink()
    )


@pytest.mark.skipif(whisper.built_in_model() is None, reason="selfkind[whisper] not installed")
def test_a_whisper_model_folder_installs_beside_vosk_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built_in = whisper.built_in_model()
    assert built_in is not None
    mine = tmp_path / "whisper-tiny-en-mine"
    shutil.copytree(built_in, mine)
    code, out, err = cli(capsys, "models", "install", str(mine))
    assert code == 0, err
    installed = transcribe.models_dir() / "whisper-tiny-en-mine"
    assert transcribe.kind_of(installed) == "whisper"
    # An installed Whisper model is preferred to the one in the wheel.
    assert choose() == choose("whisper") and choose().model == installed
    code, out, _ = cli(capsys, "models", "list")
    assert "whisper-tiny-en-mine  (whisper, used)" in out
    assert "tiny.en  (whisper, built in)" in out
    # The engine asked for must match the folder's kind.
    code, _, err = cli(capsys, "transcribe", "--engine", "whisper", "--model", str(KO_MODEL),
                       str(mine / "config.json"))  # fmt: skip
    assert code == 1 and "not a complete faster-whisper model" in err
    assert cli(capsys, "models", "remove", "whisper-tiny-en-mine")[0] == 0
    assert choose().model == built_in
    # Damaged: the right names, but a model.bin CTranslate2 cannot read.
    (mine / "model.bin").write_bytes(b"junk")
    code, _, err = cli(capsys, "models", "install", str(mine))
    assert code == 1 and "faster-whisper cannot load the model" in err, err
    assert "not installed" in err
    (mine / "tokenizer.json").unlink()
    code, _, err = cli(capsys, "models", "install", str(mine))
    assert code == 1 and "missing tokenizer.json" in err


def test_an_installed_model_that_no_longer_loads_gives_way_to_pocketsphinx(
    tmp_path: Path,
) -> None:
    """A model damaged after it was installed (not asked for by name): transcription still
    works, with PocketSphinx, and one line says why; asked for by name, it is an error."""
    from .conftest import FIXTURES, run

    home = tmp_path / "home"
    made_up_model(home / "data" / "models" / "damaged")
    env = {"SELFKIND_HOME": str(home), "SELFKIND_VOSK_MODEL": ""}
    audio = str(FIXTURES / "goforward.wav")
    hidden = tmp_path / "no-whisper"  # Vosk is what auto finds only without Whisper
    (hidden / "faster_whisper").mkdir(parents=True)
    (hidden / "faster_whisper" / "__init__.py").write_text("raise ImportError('hidden')\n")
    code, out, err = run("transcribe", audio, env={**env, "PYTHONPATH": str(hidden)})
    assert code == 0 and "forward" in out.lower(), err
    lines = [line for line in err.splitlines() if "PocketSphinx instead" in line]
    assert len(lines) == 1 and "Vosk" in lines[0], err
    code, _, err = run("transcribe", audio, "--engine", "vosk", "--model",
                       str(home / "data" / "models" / "damaged"), env=env)  # fmt: skip
    assert code == 1 and "PocketSphinx instead" not in err
