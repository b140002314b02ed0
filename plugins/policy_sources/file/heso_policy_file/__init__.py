"""The file policy source: a team's bundle is a YAML or JSON file in a directory.

With ``{"directory": "/etc/heso/policy"}`` the team's bundle is the first of
``<team id>.yaml``, ``<team id>.yml``, ``<team id>.json``, ``default.yaml``, ``default.yml``,
``default.json`` that exists there; ``"file": "name.yaml"`` names one file instead. A file
counts as changed when its modification time, size or inode changes (an editor's atomic
rename changes the inode), so an unchanged file costs one ``stat`` per poll.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import marshmallow as ma

from heso.policy.api import MAX_BUNDLE_BYTES, Fetched, PolicySource, SourceError, TeamRef

__all__ = ["FileSource"]

SUFFIXES = (".yaml", ".yml", ".json")


class FileSourceConfig(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    directory = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4096),
                                 metadata={"description": "An absolute path on the HESO server"})
    file = ma.fields.String(validate=[ma.validate.Length(min=1, max=255),
                                      ma.validate.Regexp(r"^[^/\\]+\.(ya?ml|json)$",
                                                         error="A file name (no directories) ending in "
                                                               ".yaml, .yml or .json.")])

    @ma.validates("directory")
    def _absolute(self, value: str, **kwargs: Any) -> None:
        if not os.path.isabs(value):
            raise ma.ValidationError(f"Must be an absolute path, got {value!r}.")


class FileSource(PolicySource):
    name = "file"
    config_schema = FileSourceConfig

    def _candidates(self, team: TeamRef) -> list[Path]:
        directory = Path(self.config["directory"])
        if self.config.get("file"):
            return [directory / self.config["file"]]
        return [directory / f"{stem}{suffix}" for stem in (team.id, "default") for suffix in SUFFIXES]

    def load(self, team: TeamRef, token: str | None) -> Fetched | None:
        candidates = self._candidates(team)
        for path in candidates:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SourceError(f"Cannot read {path}: {exc.strerror}.") from None
            new_token = f"{path.name}:{stat.st_mtime_ns}:{stat.st_size}:{stat.st_ino}"
            if new_token == token:
                return None
            if stat.st_size > MAX_BUNDLE_BYTES:
                raise SourceError(f"{path} is {stat.st_size} bytes; the limit is {MAX_BUNDLE_BYTES}.")
            try:
                text = path.read_bytes()
            except OSError as exc:
                raise SourceError(f"Cannot read {path}: {exc.strerror}.") from None
            if len(text) > MAX_BUNDLE_BYTES:  # grew between stat and read
                raise SourceError(f"{path} is larger than {MAX_BUNDLE_BYTES} bytes.")
            return Fetched(text=text, token=new_token, origin=str(path),
                           fmt="json" if path.suffix == ".json" else "yaml")
        raise SourceError(f"No bundle file for team {team.id}: looked for {', '.join(p.name for p in candidates)} "
                          f"in {candidates[0].parent}.")
