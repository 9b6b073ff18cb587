"""Every failure surfaces as ergon.ErgonError with the library's status and message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import ergon
import pytest
from ergon import ErgonError, Status

CSV_ARGS: Dict[str, Any] = dict(stages=2, microbatches=4, unit_time_s=0.001, p_blocking_w=83.64)


@pytest.fixture(scope="module")
def csv_2x4(instance_2x4: Path, profiles_csv: Callable[[Dict[str, Any]], str]) -> str:
    return profiles_csv(json.loads(instance_2x4.read_text()))


def raises(status: Status, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ErgonError:
    with pytest.raises(ErgonError) as e:
        fn(*args, **kwargs)
    err = e.value
    assert err.status == status, f"{err!r}, expected {status.name}"
    assert isinstance(err.status, int) and err.status_name == status.name
    assert err.message and status.name in str(err)
    return err


# --- instance JSON -----------------------------------------------------------------------------


def test_invalid_json() -> None:
    err = raises(Status.PARSE, ergon.Frontier.from_instance_json, "{ not json")
    assert err.message.startswith("ergon_perseus_frontier_from_instance_json")
    raises(Status.PARSE, ergon.Frontier.from_instance_json, "")
    raises(Status.PARSE, ergon.Frontier.from_instance_json, b"\xff\xfe{}")  # not UTF-8


def test_wrong_schema(instance_2x4: Path) -> None:
    doc = json.loads(instance_2x4.read_text())
    doc["schema"] = "ergon-frontier/v1"
    err = raises(Status.SCHEMA, ergon.Frontier.from_instance_json, json.dumps(doc))
    assert "ergon-frontier/v1" in err.message


def test_missing_field() -> None:
    raises(Status.PARSE, ergon.Frontier.from_instance_json, '{"schema": "perseus-instance/v1"}')


def test_invalid_problem(instance_2x4: Path) -> None:
    doc = json.loads(instance_2x4.read_text())
    doc["profiles"][0]["options"][0]["time_s"] = -1.0
    raises(Status.INVALID_PROBLEM, ergon.Frontier.from_instance_json, json.dumps(doc))
    doc = json.loads(instance_2x4.read_text())
    doc["unit_time_s"] = 0.0
    with pytest.raises(ErgonError):
        ergon.Frontier.from_instance_json(json.dumps(doc))


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    err = raises(Status.INVALID_ARGUMENT, ergon.Frontier.from_instance, missing)
    assert str(missing) in err.message
    assert isinstance(err.__cause__, FileNotFoundError)
    raises(Status.INVALID_ARGUMENT, ergon.Frontier.from_profile_csv, missing, **CSV_ARGS)
    raises(Status.INVALID_ARGUMENT, ergon.Frontier.from_instance, tmp_path)  # a directory


def test_wrong_types() -> None:
    with pytest.raises(TypeError):
        ergon.Frontier.from_instance_json(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ergon.Frontier.from_profile_csv_text("", **{**CSV_ARGS, "stages": "2"})
    with pytest.raises(TypeError):
        ergon.Frontier.from_profile_csv_text("", **{**CSV_ARGS, "stages": 2.0})


# --- profile CSV -------------------------------------------------------------------------------


def replace_value(csv: str, line: int, column: int, value: str) -> str:
    rows = csv.splitlines()
    cells = rows[line].split(",")
    cells[column] = value
    rows[line] = ",".join(cells)
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    "column,value",
    [(3, "nan"), (3, "NaN"), (4, "nan"), (3, "-0.02"), (4, "-8.5"), (3, "inf"), (3, "0")],
)
def test_csv_bad_values(csv_2x4: str, column: int, value: str) -> None:
    bad = replace_value(csv_2x4, 5, column, value)
    with pytest.raises(ErgonError) as e:
        ergon.Frontier.from_profile_csv_text(bad, **CSV_ARGS)
    assert e.value.status in (Status.PARSE, Status.INVALID_PROBLEM, Status.INVALID_ARGUMENT)
    assert e.value.message.startswith("ergon_perseus_frontier_from_profile_csv")


def test_csv_bad_shape(csv_2x4: str) -> None:
    raises(
        Status.PARSE,
        ergon.Frontier.from_profile_csv_text,
        "stage,instruction\n0,forward\n",
        **CSV_ARGS,
    )
    with pytest.raises(ErgonError):
        ergon.Frontier.from_profile_csv_text(replace_value(csv_2x4, 3, 1, "sideways"), **CSV_ARGS)
    with pytest.raises(ErgonError):
        ergon.Frontier.from_profile_csv_text(replace_value(csv_2x4, 3, 2, "fast"), **CSV_ARGS)
    with pytest.raises(ErgonError):
        ergon.Frontier.from_profile_csv_text("", **CSV_ARGS)
    with pytest.raises(ErgonError):  # the CSV has stages 0 and 1 only
        ergon.Frontier.from_profile_csv_text(csv_2x4, **{**CSV_ARGS, "stages": 3})


@pytest.mark.parametrize(
    "override",
    [
        {"unit_time_s": float("nan")},
        {"unit_time_s": -0.001},
        {"unit_time_s": 0.0},
        {"p_blocking_w": float("nan")},
        {"p_blocking_w": -1.0},
        {"stages": 0},
        {"microbatches": 0},
    ],
)
def test_csv_bad_arguments(csv_2x4: str, override: Dict[str, Any]) -> None:
    with pytest.raises(ErgonError) as e:
        ergon.Frontier.from_profile_csv_text(csv_2x4, **{**CSV_ARGS, **override})
    assert e.value.status in (Status.INVALID_ARGUMENT, Status.INVALID_PROBLEM)


def test_unknown_schedule_and_order(csv_2x4: str) -> None:
    err = raises(
        Status.INVALID_ARGUMENT,
        ergon.Frontier.from_profile_csv_text,
        csv_2x4,
        schedule="zigzag",
        **CSV_ARGS,
    )
    assert "zigzag" in err.message and "1f1b" in err.message
    raises(
        Status.INVALID_ARGUMENT,
        ergon.Frontier.from_profile_csv_text,
        csv_2x4,
        effective_energy="sometimes",
        **CSV_ARGS,
    )
    raises(
        Status.INVALID_ARGUMENT,
        ergon.Frontier.from_profile_csv_text,
        csv_2x4,
        schedule=1,
        **CSV_ARGS,
    )
    # virtual stages belong to interleaved 1F1B only: the library says so
    err = raises(
        Status.INVALID_ARGUMENT,
        ergon.Frontier.from_profile_csv_text,
        csv_2x4,
        virtual_stages=2,
        **CSV_ARGS,
    )
    assert err.message.startswith("ergon_perseus_frontier_from_profile_csv")
    for bad in (-1, 2**32):
        raises(
            Status.INVALID_ARGUMENT,
            ergon.Frontier.from_profile_csv_text,
            csv_2x4,
            **{**CSV_ARGS, "stages": bad},
        )


def test_other_schedules(csv_2x4: str) -> None:
    with ergon.Frontier.from_profile_csv_text(csv_2x4, schedule="gpipe", **CSV_ARGS) as f:
        assert [k for k, _ in f.plan().stages[0]] == ["forward"] * 4 + ["backward"] * 4
    with ergon.Frontier.from_profile_csv_text(
        csv_2x4, schedule="interleaved_1f1b", virtual_stages=2, **CSV_ARGS
    ) as f:
        assert f.num_stages == 2
        assert len(f.plan().stages[0]) == 16  # two model chunks per GPU


# --- plans -------------------------------------------------------------------------------------


def test_plan_arguments(frontier_2x4: ergon.Frontier) -> None:
    raises(Status.INVALID_ARGUMENT, frontier_2x4.plan, at="slowest")
    raises(Status.INVALID_ARGUMENT, frontier_2x4.plan, deadline_s=1.0, at="fastest")
    err = raises(Status.INVALID_ARGUMENT, frontier_2x4.plan, deadline_s=float("nan"))
    assert err.message.startswith("ergon_perseus_frontier_plan")
    raises(Status.INVALID_ARGUMENT, frontier_2x4.plan, deadline_s=float("inf"))
    raises(Status.INVALID_ARGUMENT, frontier_2x4.plan, deadline_s=-1.0)
    raises(Status.DEADLINE, frontier_2x4.plan, deadline_s=0.0)
    # the frontier is still usable after failures
    assert frontier_2x4.plan().num_stages == 2


# --- the exception type ------------------------------------------------------------------------


def test_error_type() -> None:
    e = ErgonError(10, "boom")
    assert e.status == Status.DEADLINE and e.status_name == "DEADLINE"
    assert str(e) == "boom [DEADLINE]" and e.message == "boom"
    assert "DEADLINE" in repr(e)
    unknown = ErgonError(99, "later")
    assert unknown.status == 99 and unknown.status_name == "UNKNOWN_99"
    assert ergon.status_str(10) == "deadline cannot be met"
    assert ergon.status_str(1234) == "unknown status"
    assert [s.value for s in Status] == list(range(15))


# --- loading the library -----------------------------------------------------------------------


def run_python(code: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_library_not_found(tmp_path: Path) -> None:
    code = """
        import ergon
        try:
            ergon.version()
        except ergon.LibraryNotFoundError as e:
            assert isinstance(e, OSError)
            print("MESSAGE", e)
        else:
            raise SystemExit("loaded a library that does not exist")
    """
    run = run_python(code, {"ERGON_LIBRARY": str(tmp_path / "libergon.so")})
    assert run.returncode == 0, run.stderr
    assert "ERGON_LIBRARY" in run.stdout and "cargo build -p ergon-ffi" in run.stdout


# Shared libraries the package must refuse, compiled from C here: (their C source, the exception,
# its `found` ABI version, parts of its message). "{path}" in a part is the library's path.
REFUSED: Dict[str, Tuple[str, str, Any, List[str]]] = {
    "ABI version 1": (
        "unsigned ergon_abi_version(void) { return 1; }\n"
        'const char *ergon_version(void) { return "0.1.0"; }\n',
        "LibraryVersionError",
        1,
        ["libergon at {path} has ABI version 1", "this ergon package needs ABI version 2"],
    ),
    "a newer ABI version": (
        "unsigned ergon_abi_version(void) { return 3; }\n",
        "LibraryVersionError",
        3,
        ["libergon at {path} has ABI version 3", "needs ABI version 2"],
    ),
    "no ergon_abi_version (ABI 1 had none)": (
        'const char *ergon_version(void) { return "0.1.0"; }\n',
        "LibraryVersionError",
        None,
        ["libergon at {path} has no ergon_abi_version symbol", "needs ABI version 2"],
    ),
    "ABI version 2 without the functions": (
        "unsigned ergon_abi_version(void) { return 2; }\n",
        "LibraryNotFoundError",
        "-",
        ["libergon at {path} says ABI version 2 but has no symbol ergon_", "broken or partial"],
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refuses_a_library_of_another_abi(case: str, tmp_path: Path) -> None:
    source, error, abi_found, parts = REFUSED[case]
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the mismatched library")
    (tmp_path / "fake.c").write_text(source)
    lib = tmp_path / "libergon.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "fake.c")],
        check=True,
        capture_output=True,
    )
    code = """
        import json, ergon
        seen = []
        for call in (ergon.version, lambda: ergon.Frontier.from_instance_json("{}")):
            try:
                call()
            except ergon.LibraryNotFoundError as e:  # LibraryVersionError is one too
                seen.append([type(e).__name__, str(e), e.tried,
                             getattr(e, "found", "-"), getattr(e, "needed", "-")])
        print("RESULT", json.dumps(seen))
    """
    run = run_python(code, {"ERGON_LIBRARY": str(lib)})
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.split("RESULT ", 1)[1])
    # Refused on every call (never half-loaded), before any function was declared or called.
    assert len(seen) == 2 and seen[0] == seen[1], seen
    name, message, tried, found, needed = seen[0]
    assert name == error, message
    for part in parts:
        assert part.format(path=lib) in message, message
    assert tried == [str(lib)]
    assert found == abi_found
    assert needed == (2 if error == "LibraryVersionError" else "-")


def test_not_an_ergon_library() -> None:
    # A real shared library that is not libergon at all: the C library.
    import ctypes.util

    libc = ctypes.util.find_library("c")
    if libc is None:
        pytest.skip("no libc to load")
    run = run_python(
        """
        import ergon
        try:
            ergon.Frontier.from_instance_json("{}")
        except ergon.LibraryVersionError as e:
            print("MESSAGE", e)
        """,
        {"ERGON_LIBRARY": libc},
    )
    assert run.returncode == 0, run.stderr
    assert f"libergon at {libc} has no ergon_abi_version symbol" in run.stdout


def test_library_from_package_directory(tmp_path: Path) -> None:
    # A libergon.so next to __init__.py is found without $ERGON_LIBRARY: copy the package.
    pkg = tmp_path / "site" / "ergon"
    shutil.copytree(Path(ergon.__file__).parent, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ergon.library_path(), pkg / "libergon.so")
    code = """
        import ergon
        print("VERSION", ergon.version())
        print("PATH", ergon.library_path())
    """
    env = {"PYTHONPATH": str(tmp_path / "site"), "ERGON_LIBRARY": ""}
    run = run_python(code, env)
    assert run.returncode == 0, run.stderr
    assert f"PATH {pkg / 'libergon.so'}" in run.stdout
