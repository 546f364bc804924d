"""What --help promises is what the commands write (#23 point 6): every help example that names the
files it writes (`# <folder>: a, b, c`) is run, and the folder is compared with the list; the
commands' own listings name each file once; an empty folder's verify names the missing manifest."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest
from click.testing import CliRunner

from edgecnn.cli import cli

CLAIM = re.compile(r"^(?P<folder>[\w/.~-]+):\s+(?P<items>.+)$")


def _examples() -> list[tuple[str, list[str], str]]:
    """(command, args, claim) of every help example whose comment names a folder's contents."""
    found = []
    for name in sorted(cli.commands):
        help_text = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
        for line in help_text.split("Examples:", 1)[-1].splitlines():
            line = line.strip()
            if not line.startswith("edgecnn ") or "#" not in line:
                continue
            command, comment = (part.strip() for part in line.split("#", 1))
            if CLAIM.match(re.sub(r"\s*\(.*\)$", "", comment)):
                found.append((name, shlex.split(command)[1:], comment))
    return found


EXAMPLES = _examples()


def test_the_examples_that_list_files_are_found():
    # Today: bundle's three examples; a new one with a `folder: files` comment joins the test below.
    assert [(name, args) for name, args, _ in EXAMPLES] == [
        ("bundle", ["bundle"]), ("bundle", ["bundle", "--target", "pi"]),
        ("bundle", ["bundle", "--output-dir", "/tmp/try", "--target", "android"]),
    ]


@pytest.mark.parametrize("name,args,claim", EXAMPLES, ids=[" ".join(a) for _, a, _ in EXAMPLES])
def test_each_help_example_writes_the_files_it_lists(name, args, claim, exported_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sources = [p for p in exported_dir.iterdir() if p.is_file()]
    for folder in ("exports", "try"):
        (tmp_path / folder).mkdir()
        for path in sources:
            shutil.copyfile(path, tmp_path / folder / path.name)
    args = [str(tmp_path / "try") if a == "/tmp/try" else a for a in args]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    match = CLAIM.match(re.sub(r"\s*\(.*\)$", "", claim))
    folder = tmp_path / match["folder"].replace("/tmp/try", "try").rstrip("/")
    listed = [item.strip() for item in match["items"].split(",")]
    present = sorted(p.name for p in folder.iterdir())
    if all("." not in item for item in listed):  # folder names (pi, android, mcu): exactly these
        assert present == sorted(listed), f"{claim!r}: {folder} holds {present}"
        return
    for item in listed:
        if item.startswith("the ") and item.endswith(" files"):  # "the .tflite files": every one exported
            suffix = item.split()[1]
            wanted = sorted(p.name for p in sources if p.name.endswith(suffix))
            assert wanted and set(wanted) <= set(present), f"{claim!r}: {folder} holds {present}"
        else:
            assert item in present, f"{claim!r}: no {item} in {folder} ({present})"


def test_bundle_lists_each_file_once_with_its_folder_inside_the_bundle(tmp_path, monkeypatch):
    # The web bundle writes an index.js in each runtime's folder: by name alone it read "index.js, index.js".
    web = tmp_path / "bundle" / "web"
    files = [web / "index.html", web / "ort" / "index.js", web / "litert" / "index.js", web / "index.html"]
    monkeypatch.setattr("edgecnn.bundle.build_bundles", lambda out, names: {"web": files})
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(tmp_path), "--target", "web"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"web: {web} (index.html, ort/index.js, litert/index.js)"]


def test_verify_on_an_empty_folder_says_the_manifest_is_missing(tmp_path):
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: no artifacts to verify: {tmp_path / 'manifest.json'} is missing "
        "(run `edgecnn export`, or name .tflite/.onnx files)"]


def test_verify_on_a_manifest_without_artifacts_says_it_lists_none(tmp_path):
    (tmp_path / "manifest.json").write_text('{"artifacts": []}')
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "manifest.json lists none" in result.stderr
