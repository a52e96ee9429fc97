"""Start a singer-sdk plugin without importing the parts of the SDK it does not use.

A poller is a short process started every few minutes for every account, so its start-up
CPU is paid again and again. singer-sdk 0.54 makes start-up heavy in two ways:

- the ``singer_sdk`` package's ``__init__`` imports the whole SDK: streams, REST and
  GraphQL (so ``requests``, ``backoff`` and through it ``asyncio``), mappers, sinks, the
  tap and target bases, whichever of them the plugin uses;
- ``singer_sdk.target_base`` binds joblib (parallel sink draining) and
  ``singer_sdk.helpers._batch`` binds universal-pathlib, so fsspec (BATCH files) at module
  level, though a plugin reaches them only when it drains sinks in parallel or writes
  BATCH files.

Together about a quarter of a CPU-second per process (``benchmarks/``, start-up rows).
:func:`defer_unused_sdk_imports` defers both. What the SDK and a plugin do with these
names behaves as before; what is not the same is introspection: ``dir(singer_sdk)`` lacks
the ``__init__``'s names until one is used, and the SDK's own ``Parallel`` and ``delayed``
are forwarders (a ``delayed`` function is not picklable across processes, which the SDK's
threading backend never needs).

- ``singer_sdk`` is registered as a package without running its ``__init__``. Its
  submodules import as usual; the first use of a name the ``__init__`` defines
  (``singer_sdk.Tap``, ``from singer_sdk import Stream``) runs the ``__init__`` then.
- while the two SDK modules above are imported, ``joblib`` and ``upath`` are stand-ins
  whose few names the SDK binds (:data:`DEFERRED_NAMES`) import the real module on their
  first call. The stand-ins are removed right after, so any later ``import joblib`` is
  the real one. The SDK only calls these names (``tests/test_startup.py`` checks its
  source), which is what makes a stand-in that forwards calls exact.

Call it before anything imports ``singer_sdk``; once the SDK is imported it does nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
import typing as t

SDK_PACKAGE = "singer_sdk"

# The modules of the SDK that bind a deferred dependency at import, and the names they
# bind from it (singer-sdk 0.54.9: target_base.py and helpers/_batch.py).
DEFERRED_NAMES: dict[str, tuple[str, ...]] = {
    "joblib": ("Parallel", "delayed", "parallel_config"),
    "upath": ("UPath",),
}
BINDING_MODULES = ("singer_sdk.target_base", "singer_sdk.helpers._batch")


def defer_unused_sdk_imports() -> None:
    """Import the SDK lean: no package ``__init__``, no joblib, no fsspec until used."""
    if SDK_PACKAGE in sys.modules:
        return
    _register_package_without_init(SDK_PACKAGE)
    stand_ins = {
        module_name: _stand_in(module_name, names)
        for module_name, names in DEFERRED_NAMES.items()
        if module_name not in sys.modules
    }
    sys.modules.update(stand_ins)
    try:
        for module_name in BINDING_MODULES:
            importlib.import_module(module_name)
    finally:
        for module_name, stand_in in stand_ins.items():
            if sys.modules.get(module_name) is stand_in:
                del sys.modules[module_name]


def _register_package_without_init(package: str) -> None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return  # not an installed package: let the normal import report it
    module = importlib.util.module_from_spec(spec)
    # Held while the real __init__ runs: another thread's first use waits for it, as it
    # would for an import in progress. Re-entrant: the __init__ imports submodules.
    init_lock = threading.RLock()
    init_state = {"ran": False}

    def __getattr__(name: str) -> t.Any:  # noqa: N807, ANN401 (PEP 562 hook)
        # `from singer_sdk import about` asks the package for the attribute first.
        if name.isidentifier() and not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}"):
            return importlib.import_module(f"{package}.{name}")
        with init_lock:
            if init_state["ran"]:
                if name in module.__dict__:  # defined by the __init__ another thread ran
                    return module.__dict__[name]
                msg = f"module {package!r} has no attribute {name!r}"
                raise AttributeError(msg)
            init_state["ran"] = True
            try:
                spec.loader.exec_module(module)  # defines the names (and its own __getattr__)
            except BaseException:
                init_state["ran"] = False  # the next use runs it again, and shows the error
                raise
        return getattr(module, name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[package] = module


def _stand_in(module_name: str, names: tuple[str, ...]) -> types.ModuleType:
    stand_in = types.ModuleType(module_name, f"Stand-in for {module_name}: imports it on first call.")
    for name in names:
        setattr(stand_in, name, _forward_call(module_name, name))
    return stand_in


def _forward_call(module_name: str, name: str) -> t.Callable[..., t.Any]:
    def call(*args: t.Any, **kwargs: t.Any) -> t.Any:  # noqa: ANN401
        return getattr(importlib.import_module(module_name), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__module__ = module_name
    return call
