"""The mistake corpus: every file under tests/unit/mistakes/<class>/ is refused by `harness validate`.

Each `<class>/<name>.yaml` is a fresh scenario (or suite) with exactly one realistic
mistake. Its header says what validate must name:

    # expect: slos.2.check                 (required, first line) a substring of the output,
                                           usually the key path of the mistake
    # expect-text: can never fail          (optional) another substring of the output
    # args: --strict                       (optional) extra arguments to `harness validate`
    # env: HARNESS_IMPORT_TIMEOUT_S=3      (optional) an environment variable for the run

Supporting files (Serve configs, modules, scripts) sit beside them with names that do
not end in .yaml, or in a `_support/` folder, which is never run. Paths inside corpus
files are relative to the file itself (harness.scenario.paths), module names
(`load.user_class`) to the project root, where the test runs. Validate runs in this
process through the CLI's own entry point (user code is imported in a child process
either way), so the corpus stays fast.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from harness.cli import main
from harness.model.outcome import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "mistakes"
HEADERS = ("# expect:", "# expect-text:", "# args:", "# env:")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.yaml") if "_support" not in p.relative_to(CORPUS).parts)


def read_header(path: Path) -> dict[str, str]:
    """The file's `# key: value` header lines (expect is required and comes first)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, str] = {}
    for index, line in enumerate(lines[:4]):
        for prefix in HEADERS:
            if line.startswith(prefix):
                header[prefix[2:-1]] = line[len(prefix):].strip()
        if index == 0 and "expect" not in header:
            break
    return header


def validate(path: Path, extra: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["validate", *extra, str(path.relative_to(ROOT))])
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue() + err.getvalue()


FILES = corpus_files()


def test_corpus_is_whole() -> None:
    """Every class of mistake has files, and every file says what it expects."""
    classes = {p.relative_to(CORPUS).parts[0] for p in FILES}
    assert len(FILES) >= 60, len(FILES)
    assert {"bounds", "outcomes", "windows", "load", "request_mix", "serve_config", "suites",
            "user_code", "slo_names", "slo_args", "features"} <= classes
    missing = [str(p.relative_to(CORPUS)) for p in FILES if not read_header(p).get("expect")]
    assert not missing, f"corpus files without '# expect: <key path>' on line 1: {missing}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_mistake_is_refused(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    header = read_header(path)
    if "env" in header:  # e.g. user_code/import_blocks: a short import limit, not 20 s
        name, _, value = header["env"].partition("=")
        monkeypatch.setenv(name.strip(), value.strip())
    code, output = validate(path, header.get("args", "").split())
    assert "Traceback" not in output, output
    assert code == EXIT_USAGE, f"exit {code}, expected {EXIT_USAGE} (refused):\n{output}"
    assert header["expect"] in output, f"expected {header['expect']!r} in:\n{output}"
    if "expect-text" in header:
        assert header["expect-text"] in output, f"expected {header['expect-text']!r} in:\n{output}"
