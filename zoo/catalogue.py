"""What `zoo list`, `zoo info` and `zoo plugins` show, as plain data, cached between runs without going stale.

Listing the zoo means importing every plugin, and so torch: seconds of CPU that a user pays on every
`zoo list` and every typo. What those commands print depends only on what is installed and how plugins are
selected, so it is computed once from the live registry (``snapshot``) and stored as JSON under a
*fingerprint* of everything it depends on:

- genzoo's version, the Python executable, ``ZOO_LOAD_PLUGINS`` and ``ZOO_STRICT_PLUGINS``;
- every entry point of the ``zoo`` group (name, target, distribution, version);
- every file of every plugin's package and of the core package (path, size, modification time): an
  editable install or a plugin being written changes its files, not its version.

Reading the fingerprint imports no plugin and no torch. A cache whose fingerprint differs is never shown:
the data is rebuilt from the registry and stored again. ``ZOO_CACHE_DIR`` says where the cache lives
(default ``$XDG_CACHE_HOME/genzoo``, else ``~/.cache/genzoo``); an empty value turns caching off. A cache file
that can't be read or parsed is ignored (and rewritten); one that can't be written costs nothing but speed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["cache_dir", "cached", "fingerprint"]

FORMAT = 2  # bump when the stored data's layout changes


def cache_dir() -> Path | None:
    """Where the cache lives, or None when ``ZOO_CACHE_DIR`` is set empty (caching off)."""
    configured = os.environ.get("ZOO_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "genzoo"


def _package_files(module: str) -> Iterator[Path]:
    """The files of the top-level package (or the single module) that ``module`` belongs to, without importing it."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return
    if spec is None:
        return
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            for path in sorted(Path(location).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    yield path
    elif spec.origin and os.path.isfile(spec.origin):
        yield Path(spec.origin)


def _builtin_modules() -> list[str]:
    from zoo.plugins import builtin_config  # reads registry.yaml: YAML, no torch

    return [str(name) for name in builtin_config().get("plugins", [])]


def fingerprint() -> str:
    """A hash of everything the listing depends on (see the module's docstring)."""
    from zoo import __version__

    digest = hashlib.sha256()

    def add(*parts: object) -> None:
        digest.update(json.dumps(parts, default=str).encode() + b"\n")

    add(FORMAT, __version__, sys.executable, os.environ.get("ZOO_LOAD_PLUGINS"),
        os.environ.get("ZOO_STRICT_PLUGINS"))
    modules = {"zoo", *_builtin_modules()}
    for ep in sorted(metadata.entry_points(group="zoo"), key=lambda ep: (ep.name, ep.value)):
        add("entry point", ep.name, ep.value, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
        modules.add(ep.value.split(":")[0])
    for module in sorted(modules):
        for path in _package_files(module):
            try:
                stat = path.stat()
            except OSError:
                continue
            add(str(path), stat.st_size, stat.st_mtime_ns)
    return digest.hexdigest()


def _read(path: Path, key: str) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(stored, dict) or stored.get("fingerprint") != key or not isinstance(stored.get("data"), dict):
        return None
    return stored["data"]


def _write(path: Path, key: str, data: dict[str, Any]) -> None:
    """Store atomically (a reader sees the old file or the new one); a failure costs only speed next time."""
    text = json.dumps({"fingerprint": key, "data": data}, default=str)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".catalogue-", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except OSError:  # a read-only home, a full disk: the listing still works, only slower
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def cached(build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The listing data: from the cache when its fingerprint matches what is installed now, else ``build()``
    (which imports the plugins), stored for next time."""
    folder = cache_dir()
    if folder is None:
        return build()
    key = fingerprint()
    path = folder / "catalogue.json"
    data = _read(path, key)
    if data is None:
        data = build()
        _write(path, key, data)
    return data
