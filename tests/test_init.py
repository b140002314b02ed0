"""``create_app`` registers the rooms from one list (``heso.ROOMS``)."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

import flask

import heso
from heso import ROOMS


def _module_blueprints() -> dict[str, list[tuple[str, flask.Blueprint]]]:
    """Every module-level Blueprint in ``heso``, by the variable that holds it."""
    found: dict[str, list[tuple[str, flask.Blueprint]]] = defaultdict(list)
    for info in pkgutil.walk_packages(heso.__path__, "heso."):
        if ".client" in info.name or ".testing" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, flask.Blueprint) and getattr(value, "import_name", None) == info.name:
                found[name].append((info.name, value))
    return found


def test_the_api_tags_follow_the_rooms_order(app, client):
    api_names = [getattr(importlib.import_module(room.module), room.attribute).name for room in ROOMS if room.api]
    tags = [tag["name"] for tag in client.get("/openapi.json").get_json()["tags"]]
    assert tags == api_names
    registered = list(app.blueprints)
    assert [name for name in registered if name in api_names] == api_names


def test_every_room_is_registered_once_and_no_two_blueprints_share_a_variable_name():
    rooms = [(room.module, room.attribute) for room in ROOMS]
    assert len(rooms) == len(set(rooms))
    found = _module_blueprints()
    # Descriptive names (keys_blp, receipts_blp) name one blueprint each; `blp` is a room's only one.
    shared = {name: [module for module, _ in holders] for name, holders in found.items()
              if name != "blp" and len(holders) > 1}
    assert shared == {}
    in_rooms = {(module, name) for name, holders in found.items() for module, _ in holders
                if module.endswith(("routes", "pages", "answer_page", "health"))}
    assert in_rooms <= set(rooms)
