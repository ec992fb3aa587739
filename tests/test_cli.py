import subprocess
import sys
from pathlib import Path

import pytest

from mda_curate.cli import COMMANDS, main


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: mda-curate " + command in capsys.readouterr().out


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    missing = tmp_path / "missing.jsonl"
    code = main(["tokenizer", "train", str(missing), "--out", str(tmp_path / "tok")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"mda-curate tokenizer: error: {missing}: no such file"


def test_malformed_line_names_file_and_line(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "fine"}\n{"text": oops}\n')
    assert main(["tokenizer", "train", str(data), "--out", str(tmp_path / "tok")]) == 2
    assert f"{data}:2: malformed JSON" in capsys.readouterr().err


def test_console_entry_point_is_installed():
    script = Path(sys.executable).parent / "mda-curate"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("mda-curate ")


HEAVY = ("numpy", "torch", "transformers", "sklearn", "pyarrow", "datatrove")


def heavy_imports(statement: str) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running ``statement``."""
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1]
    )
    return done.stdout.split()


def test_building_the_parser_imports_no_heavy_library():
    """``mda-curate --help`` stays fast: the flags come from numpy-free settings modules."""
    assert heavy_imports("from mda_curate.cli import build_parser; build_parser().format_help()") == []
    assert "numpy" in heavy_imports("import mda_curate.augment.generators")  # the check sees numpy when it is there
