"""Versioned SavedModel folders `<base>/<N>/`, written elsewhere and renamed in.

TF Serving polls `<base>` and loads any numeric folder it sees, so a version must appear
complete in one step: we write into a hidden temp folder in the same parent (same file
system, so `os.rename` is atomic) and rename it to `<N>` only when it is whole. Non-numeric
folders such as `.tmp-3-abcd` are ignored by the server.
"""
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Optional

from absl import logging


def list_versions(base_dir) -> list:
    """Numeric version folders under `base_dir`, ascending (ints)."""
    base = pathlib.Path(base_dir)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def latest_version_dir(base_dir) -> Optional[pathlib.Path]:
    versions = list_versions(base_dir)
    return pathlib.Path(base_dir) / str(versions[-1]) if versions else None


def next_version(base_dir) -> int:
    versions = list_versions(base_dir)
    return versions[-1] + 1 if versions else 1


def write_version(base_dir, write_fn: Callable[[str], None], version: Optional[int] = None,
                  overwrite: bool = False) -> pathlib.Path:
    """Calls `write_fn(tmp_dir)`, then renames `tmp_dir` to `<base_dir>/<version>`.

    Args:
        base_dir: the model's base path (created if missing).
        write_fn: writes a complete SavedModel into the folder it is given.
        version: positive int; default: one above the highest existing version.
        overwrite: replace an existing `<version>` folder (else ValueError).
    Returns:
        The final version folder.
    """
    base = pathlib.Path(base_dir)
    base.mkdir(parents=True, exist_ok=True)
    version = next_version(base) if version is None else version
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        raise ValueError(f"version must be a positive int, got {version!r}.")
    final = base / str(version)
    if final.exists() and not overwrite:
        raise ValueError(f"{final} already exists; pass overwrite=True or another version.")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base))
    try:
        write_fn(str(tmp))
        _make_readable(tmp)
        if final.exists():
            # Move the old version aside first so the rename below cannot fail half-way.
            trash = pathlib.Path(tempfile.mkdtemp(prefix=f".old-{version}-", dir=base))
            os.rename(final, trash / "v")
            os.rename(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logging.info("Wrote version %d to %s", version, final)
    return final


def _make_readable(directory: pathlib.Path) -> None:
    """mkdtemp creates 0700 folders; a server running as another user must read the version."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
