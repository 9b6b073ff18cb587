"""Every failure surfaces as ergon.ErgonError with the library's status and message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from conftest import fails, raises, run_python

import ergon
from ergon import ErgonError, Status

CSV_ARGS: Dict[str, Any] = dict(stages=2, microbatches=4, unit_time_s=0.001, p_blocking_w=83.64)


@pytest.fixture(scope="module")
def csv_2x4(instance_2x4: Path, profiles_csv: Callable[[Dict[str, Any]], str]) -> str:
    return profiles_csv(json.loads(instance_2x4.read_text()))


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


@pytest.mark.parametrize(
    "override, parts",
    [
        ({"schedule": "zigzag"}, ["zigzag", "1f1b"]),
        ({"effective_energy": "sometimes"}, ["sometimes", "after_filter"]),
        ({"schedule": 1}, ["schedule must be a string"]),
        # virtual stages belong to interleaved 1F1B only: the library says so
        ({"virtual_stages": 2}, ["ergon_perseus_frontier_from_profile_csv"]),
        ({"stages": -1}, ["stages"]),
        ({"stages": 2**32}, ["stages", "out of range"]),
    ],
)
def test_unknown_schedule_order_and_counts(
    csv_2x4: str, override: Dict[str, Any], parts: List[str]
) -> None:
    with fails(Status.INVALID_ARGUMENT, *parts) as info:
        ergon.Frontier.from_profile_csv_text(csv_2x4, **{**CSV_ARGS, **override})
    if parts[0].startswith("ergon_"):  # the library's message names the function first
        assert info.value.message.startswith(parts[0])


def test_other_schedules(csv_2x4: str) -> None:
    with ergon.Frontier.from_profile_csv_text(csv_2x4, schedule="gpipe", **CSV_ARGS) as f:
        assert [k for k, _ in f.plan().stages[0]] == ["forward"] * 4 + ["backward"] * 4
    with ergon.Frontier.from_profile_csv_text(
        csv_2x4, schedule="interleaved_1f1b", virtual_stages=2, **CSV_ARGS
    ) as f:
        assert f.num_stages == 2
        assert len(f.plan().stages[0]) == 16  # two model chunks per GPU


# --- plans -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, status, part",
    [
        ({"at": "slowest"}, Status.INVALID_ARGUMENT, "slowest"),
        ({"deadline_s": 1.0, "at": "fastest"}, Status.INVALID_ARGUMENT, "not both"),
        ({"deadline_s": float("nan")}, Status.INVALID_ARGUMENT, "ergon_perseus_frontier_plan"),
        ({"deadline_s": float("inf")}, Status.INVALID_ARGUMENT, "deadline"),
        ({"deadline_s": -1.0}, Status.INVALID_ARGUMENT, "deadline"),
        ({"deadline_s": 0.0}, Status.DEADLINE, "deadline"),
    ],
)
def test_plan_arguments(
    frontier_2x4: ergon.Frontier, arguments: Dict[str, Any], status: Status, part: str
) -> None:
    with fails(status, part) as info:
        frontier_2x4.plan(**arguments)
    if part.startswith("ergon_"):  # the library's message names the function first
        assert info.value.message.startswith(part)
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
