"""What a plugin process costs to start: the lean SDK import and compiled plugin venvs.

The figures are the benchmark's (start-up rows); these tests check the mechanisms behind
them, each in a fresh interpreter (this test process has imported the SDK long ago).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sdk_startup import BINDING_MODULES, DEFERRED_NAMES

ROOT = Path(__file__).resolve().parent.parent
HEAVY_UNUSED = ("joblib", "upath", "fsspec", "psutil")


def fresh_python(code: str) -> dict:
    """Run code in a new interpreter; it prints one JSON object as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("plugin", ["tap_insightly.tap", "target_webhook.target"])
def test_plugin_import_leaves_out_batch_files_and_parallel_draining(plugin: str) -> None:
    loaded = fresh_python(f"""
        import json, sys
        import {plugin}
        print(json.dumps({{name: name in sys.modules for name in {HEAVY_UNUSED!r}}}))
    """)
    assert loaded == dict.fromkeys(HEAVY_UNUSED, False)


def test_target_import_leaves_out_the_sdk_stream_classes() -> None:
    loaded = fresh_python("""
        import json, sys
        import target_webhook.target
        print(json.dumps({n: n in sys.modules for n in ("singer_sdk.streams", "backoff", "asyncio")}))
    """)
    assert loaded == {"singer_sdk.streams": False, "backoff": False, "asyncio": False}


def test_deferred_names_do_their_work_on_first_call() -> None:
    result = fresh_python("""
        import json, sys
        import target_webhook.target
        from singer_sdk import target_base
        from singer_sdk.helpers._batch import StorageTarget

        # What Target._drain_all does with more than one sink to drain
        with target_base.parallel_config(backend="threading", n_jobs=2):
            squares = target_base.Parallel()(target_base.delayed(pow)(i, 2) for i in range(5))
        head, tail = StorageTarget.split_url("file:///tmp/batches/part-1.jsonl.gz")
        import joblib, upath
        print(json.dumps({
            "squares": squares,
            "split": [head, tail],
            "real_joblib": hasattr(joblib, "Memory"),
            "real_upath": upath.UPath.__module__.startswith("upath"),
        }))
    """)
    assert result == {
        "squares": [0, 1, 4, 9, 16],
        "split": ["file:///tmp/batches", "part-1.jsonl.gz"],
        "real_joblib": True,
        "real_upath": True,
    }


def test_any_later_import_of_a_deferred_module_is_the_real_one() -> None:
    result = fresh_python("""
        import json, sys
        import tap_insightly.tap, target_webhook.target
        import joblib
        print(json.dumps({"doc": joblib.__doc__ or "", "has_memory": hasattr(joblib, "Memory")}))
    """)
    assert result["has_memory"]
    assert "Stand-in" not in result["doc"]


def test_the_sdk_package_names_still_resolve() -> None:
    result = fresh_python("""
        import json, warnings
        import tap_insightly.tap
        import singer_sdk
        from singer_sdk import Stream, Tap, typing
        from singer_sdk.tap_base import Tap as TapBase
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sql_connector = singer_sdk.SQLConnector  # the __init__'s own deprecated alias
        print(json.dumps({
            "tap_is_tap_base": Tap is TapBase,
            "stream": Stream.__name__,
            "typing": typing.__name__,
            "all": sorted(singer_sdk.__all__)[:3],
            "sql_connector": sql_connector.__name__,
            "deprecation_warned": any("deprecated" in str(w.message) for w in caught),
        }))
    """)
    assert result == {
        "tap_is_tap_base": True,
        "stream": "Stream",
        "typing": "singer_sdk.typing",
        "all": ["BatchSink", "GraphQLStream", "InlineMapper"],
        "sql_connector": "SQLConnector",
        "deprecation_warned": True,
    }


def test_an_sdk_imported_first_is_left_as_it_is() -> None:
    result = fresh_python("""
        import json, sys
        import singer_sdk
        import target_webhook.target
        print(json.dumps({"streams": "singer_sdk.streams" in sys.modules,
                          "joblib": "joblib" in sys.modules,
                          "tap": singer_sdk.Tap.__name__}))
    """)
    assert result == {"streams": True, "joblib": True, "tap": "Tap"}


def test_unknown_sdk_attribute_is_still_an_attribute_error() -> None:
    result = fresh_python("""
        import json
        import target_webhook
        import singer_sdk
        try:
            singer_sdk.NoSuchThing
        except AttributeError as error:
            print(json.dumps({"error": str(error)}))
    """)
    assert "NoSuchThing" in result["error"]


@pytest.mark.parametrize("module_name", BINDING_MODULES)
def test_sdk_only_calls_the_names_it_binds_from_deferred_modules(module_name: str) -> None:
    """A stand-in forwards calls, so the SDK may do nothing else with these names.

    Fails on an SDK upgrade that starts to use them otherwise (isinstance, subclassing,
    attribute access): then sdk_startup must stop deferring that module.
    """
    spec = importlib.util.find_spec(module_name)
    assert spec is not None and spec.origin is not None
    tree = ast.parse(Path(spec.origin).read_text())

    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in DEFERRED_NAMES:
            for alias in node.names:
                assert alias.name in DEFERRED_NAMES[node.module], (
                    f"{module_name} now binds {node.module}.{alias.name}: add it to DEFERRED_NAMES"
                )
                bound[alias.asname or alias.name] = node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in DEFERRED_NAMES, (
                    f"{module_name} imports the module {alias.name} itself: it can't be deferred"
                )
    assert bound, f"{module_name} no longer binds a deferred module: drop it from BINDING_MODULES"

    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            allowed.add(id(node.func))
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:  # only text at runtime (from __future__ import annotations)
                allowed.update(id(n) for n in ast.walk(annotation))
    misuses = [
        f"line {node.lineno}: {node.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in bound and id(node) not in allowed
    ]
    assert misuses == [], f"{module_name} uses deferred names other than by calling them: {misuses}"


def plugin_venvs() -> list[Path]:
    return sorted(ROOT.glob(".meltano/*/*/venv"))


@pytest.mark.skipif(not plugin_venvs(), reason="no Meltano plugin venvs here (run `make install` first)")
@pytest.mark.parametrize("venv", plugin_venvs(), ids=lambda venv: venv.parent.name)
def test_meltano_plugin_venvs_hold_compiled_bytecode(venv: Path) -> None:
    # Without it each plugin start compiles singer-sdk and its dependencies from source
    # wherever Python does not write bytecode: ~1 CPU-second per plugin per run.
    sdk = next(venv.glob("lib/python*/site-packages/singer_sdk"), None)
    assert sdk is not None, f"{venv} has no singer_sdk"
    sources = {p.stem for p in sdk.glob("*.py")}
    compiled = {p.name.split(".")[0] for p in sdk.glob("__pycache__/*.pyc")}
    assert sources <= compiled, f"not compiled in {venv.parent.name}: {sorted(sources - compiled)[:5]}"


def test_first_use_of_an_sdk_name_from_many_threads_at_once() -> None:
    result = fresh_python("""
        import json, threading
        import tap_insightly
        import singer_sdk
        barrier = threading.Barrier(6)
        seen, errors = [], []
        def use():
            barrier.wait()
            try:
                seen.append(singer_sdk.Tap.__name__)
            except Exception as error:
                errors.append(repr(error))
        threads = [threading.Thread(target=use) for _ in range(6)]
        for thread in threads: thread.start()
        for thread in threads: thread.join()
        print(json.dumps({"seen": seen, "errors": errors}))
    """)
    assert result == {"seen": ["Tap"] * 6, "errors": []}


def test_odd_attribute_names_are_attribute_errors() -> None:
    result = fresh_python("""
        import json
        import target_webhook
        import singer_sdk
        print(json.dumps({"dotted": getattr(singer_sdk, "a.b", "absent")}))
    """)
    assert result == {"dotted": "absent"}
