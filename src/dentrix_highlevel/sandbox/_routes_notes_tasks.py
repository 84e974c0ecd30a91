"""Contact notes and tasks under ``/contacts/{contactId}/...`` (API-NOTES §2.7, §2.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from dentrix_highlevel.sandbox._http import ApiError, ApiRoute, Ctx, Field, Reply, drop_none, fields
from dentrix_highlevel.sandbox._state import LocationState, iso_ms

__all__ = ["ROUTES"]

Json = dict[str, Any]

_NOTE_FIELDS = {
    **fields(Field(), "userId", "body", "title", "color"),
    "pinned": Field(kind="bool"),
}
_NOTE_CREATE = {**_NOTE_FIELDS, "body": Field(required=True)}

_TASK_FIELDS = {
    **fields(Field(), "title", "body", "dueDate"),
    "completed": Field(kind="bool"),
    "assignedTo": Field(),
}
_TASK_CREATE = {
    **_TASK_FIELDS,
    "title": Field(required=True),
    "dueDate": Field(required=True),
    "completed": Field(kind="bool", required=True),
}


def _contact(ctx: Ctx) -> tuple[LocationState, Json]:
    return ctx.owned("contacts", ctx.path_params["contactId"], "Contact")


@attrs.frozen
class _Children:
    """A contact's notes or tasks: where they are kept, the path parameter naming one, and the words of
    the answers (``{"notes": [...]}``, ``{"note": {...}}``, "Note not found")."""

    store: str
    param: str
    what: str
    one: str

    def find(self, ctx: Ctx) -> tuple[LocationState, Json]:
        loc, contact = _contact(ctx)
        obj = getattr(loc, self.store).get(ctx.path_params[self.param])
        if obj is None or obj["contactId"] != contact["id"]:
            raise ApiError.not_found(f"{self.what} not found")
        return loc, obj

    def answer(self, obj: Json, status: int = 200) -> Reply:
        return Reply(status, {self.one: dict(obj)})

    def add(self, loc: LocationState, obj: Json) -> Reply:
        getattr(loc, self.store)[obj["id"]] = obj
        return self.answer(obj, 201)

    def list(self, ctx: Ctx) -> Reply:
        loc, contact = _contact(ctx)
        rows = getattr(loc, self.store).values()
        return Reply(200, {self.store: [dict(r) for r in rows if r["contactId"] == contact["id"]]})

    def get(self, ctx: Ctx) -> Reply:
        return self.answer(self.find(ctx)[1])

    def delete(self, ctx: Ctx) -> Reply:
        loc, obj = self.find(ctx)
        del getattr(loc, self.store)[obj["id"]]
        return Reply(200, {"succeded": True})


_NOTES = _Children(store="notes", param="id", what="Note", one="note")
_TASKS = _Children(store="tasks", param="taskId", what="Task", one="task")


def create_note(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = _contact(ctx)
    note = drop_none(
        {"id": ctx.new_id(), **body, "contactId": contact["id"], "dateAdded": iso_ms(ctx.wall_s)}
    )
    return _NOTES.add(loc, note)


def update_note(ctx: Ctx) -> Reply:
    _, note = _NOTES.find(ctx)
    note.update(drop_none(ctx.body))
    return _NOTES.answer(note)


def _check_due(value: Any) -> None:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
            return
        except ValueError:
            pass
    raise ApiError.unprocessable(["dueDate must be a valid ISO 8601 date string"])


def create_task(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = _contact(ctx)
    _check_due(body["dueDate"])
    task = drop_none({"id": ctx.new_id(), **body, "contactId": contact["id"]})
    return _TASKS.add(loc, task)


def update_task(ctx: Ctx) -> Reply:
    body = ctx.body
    _, task = _TASKS.find(ctx)
    if body.get("dueDate") is not None:
        _check_due(body["dueDate"])
    task.update(drop_none(body))
    return _TASKS.answer(task)


def complete_task(ctx: Ctx) -> Reply:
    _, task = _TASKS.find(ctx)
    task["completed"] = ctx.body["completed"]
    return _TASKS.answer(task)


_COMPLETED = {"completed": Field(kind="bool", required=True)}
_R, _W = "contacts.readonly", "contacts.write"
_N, _T = "/contacts/{contactId}/notes", "/contacts/{contactId}/tasks"
ROUTES = [
    ApiRoute(method="GET", path=_N, handler=_NOTES.list, scope=_R),
    ApiRoute(method="POST", path=_N, handler=create_note, scope=_W, body=_NOTE_CREATE),
    ApiRoute(method="GET", path=f"{_N}/{{id}}", handler=_NOTES.get, scope=_R),
    ApiRoute(method="PUT", path=f"{_N}/{{id}}", handler=update_note, scope=_W, body=_NOTE_FIELDS),
    ApiRoute(method="DELETE", path=f"{_N}/{{id}}", handler=_NOTES.delete, scope=_W),
    ApiRoute(method="GET", path=_T, handler=_TASKS.list, scope=_R),
    ApiRoute(method="POST", path=_T, handler=create_task, scope=_W, body=_TASK_CREATE),
    ApiRoute(method="GET", path=f"{_T}/{{taskId}}", handler=_TASKS.get, scope=_R),
    ApiRoute(method="PUT", path=f"{_T}/{{taskId}}", handler=update_task, scope=_W, body=_TASK_FIELDS),
    ApiRoute(
        method="PUT",
        path=f"{_T}/{{taskId}}/completed",
        handler=complete_task,
        scope=_W,
        body=_COMPLETED,
    ),
    ApiRoute(method="DELETE", path=f"{_T}/{{taskId}}", handler=_TASKS.delete, scope=_W),
]
