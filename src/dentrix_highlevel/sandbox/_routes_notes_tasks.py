"""Contact notes and tasks under ``/contacts/{contactId}/...`` (API-NOTES §2.7, §2.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


def _child(ctx: Ctx, store: str, key: str, what: str) -> tuple[LocationState, Json]:
    loc, contact = _contact(ctx)
    obj = getattr(loc, store).get(ctx.path_params[key])
    if obj is None or obj["contactId"] != contact["id"]:
        raise ApiError.not_found(f"{what} not found")
    return loc, obj


def create_note(ctx: Ctx) -> Reply:
    body = ctx.body
    loc, contact = _contact(ctx)
    note = drop_none(
        {"id": ctx.new_id(), **body, "contactId": contact["id"], "dateAdded": iso_ms(ctx.wall_s)}
    )
    loc.notes[note["id"]] = note
    return Reply(201, {"note": dict(note)})


def list_notes(ctx: Ctx) -> Reply:
    loc, contact = _contact(ctx)
    return Reply(200, {"notes": [dict(n) for n in loc.notes.values() if n["contactId"] == contact["id"]]})


def get_note(ctx: Ctx) -> Reply:
    _, note = _child(ctx, "notes", "id", "Note")
    return Reply(200, {"note": dict(note)})


def update_note(ctx: Ctx) -> Reply:
    body = ctx.body
    _, note = _child(ctx, "notes", "id", "Note")
    note.update(drop_none(body))
    return Reply(200, {"note": dict(note)})


def delete_note(ctx: Ctx) -> Reply:
    loc, note = _child(ctx, "notes", "id", "Note")
    del loc.notes[note["id"]]
    return Reply(200, {"succeded": True})


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
    loc.tasks[task["id"]] = task
    return Reply(201, {"task": dict(task)})


def list_tasks(ctx: Ctx) -> Reply:
    loc, contact = _contact(ctx)
    return Reply(200, {"tasks": [dict(t) for t in loc.tasks.values() if t["contactId"] == contact["id"]]})


def get_task(ctx: Ctx) -> Reply:
    _, task = _child(ctx, "tasks", "taskId", "Task")
    return Reply(200, {"task": dict(task)})


def update_task(ctx: Ctx) -> Reply:
    body = ctx.body
    _, task = _child(ctx, "tasks", "taskId", "Task")
    if body.get("dueDate") is not None:
        _check_due(body["dueDate"])
    task.update(drop_none(body))
    return Reply(200, {"task": dict(task)})


def complete_task(ctx: Ctx) -> Reply:
    _, task = _child(ctx, "tasks", "taskId", "Task")
    body = ctx.body
    task["completed"] = body["completed"]
    return Reply(200, {"task": dict(task)})


def delete_task(ctx: Ctx) -> Reply:
    loc, task = _child(ctx, "tasks", "taskId", "Task")
    del loc.tasks[task["id"]]
    return Reply(200, {"succeded": True})


_COMPLETED = {"completed": Field(kind="bool", required=True)}
_R, _W = "contacts.readonly", "contacts.write"
_N, _T = "/contacts/{contactId}/notes", "/contacts/{contactId}/tasks"
ROUTES = [
    ApiRoute(method="GET", path=_N, handler=list_notes, scope=_R),
    ApiRoute(method="POST", path=_N, handler=create_note, scope=_W, body=_NOTE_CREATE),
    ApiRoute(method="GET", path=f"{_N}/{{id}}", handler=get_note, scope=_R),
    ApiRoute(method="PUT", path=f"{_N}/{{id}}", handler=update_note, scope=_W, body=_NOTE_FIELDS),
    ApiRoute(method="DELETE", path=f"{_N}/{{id}}", handler=delete_note, scope=_W),
    ApiRoute(method="GET", path=_T, handler=list_tasks, scope=_R),
    ApiRoute(method="POST", path=_T, handler=create_task, scope=_W, body=_TASK_CREATE),
    ApiRoute(method="GET", path=f"{_T}/{{taskId}}", handler=get_task, scope=_R),
    ApiRoute(method="PUT", path=f"{_T}/{{taskId}}", handler=update_task, scope=_W, body=_TASK_FIELDS),
    ApiRoute(
        method="PUT",
        path=f"{_T}/{{taskId}}/completed",
        handler=complete_task,
        scope=_W,
        body=_COMPLETED,
    ),
    ApiRoute(method="DELETE", path=f"{_T}/{{taskId}}", handler=delete_task, scope=_W),
]
