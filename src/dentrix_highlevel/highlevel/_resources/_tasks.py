"""``client.tasks``: a contact's tasks."""

from __future__ import annotations

from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import TaskInput
from dentrix_highlevel.highlevel._models import Task
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, digest, seg

__all__ = ["Tasks"]


class Tasks(Resource):
    def _path(self, contact_id: str, task_id: str | None = None) -> str:
        base = f"/contacts/{seg(contact_id)}/tasks"
        return base if task_id is None else f"{base}/{seg(task_id)}"

    async def list(self, contact_id: str) -> tuple[Task, ...]:
        path = self._path(contact_id)
        return await self._get(path, tuple[Task, ...], key="tasks")

    async def get(self, contact_id: str, task_id: str) -> Task:
        path = self._path(contact_id, task_id)
        return await self._get(path, Task, key="task")

    async def create(self, contact_id: str, task: TaskInput) -> Task:
        lookup = {"contactId": contact_id, "titleSha256": digest(task.title), "dueDate": task.due_date}
        path = self._path(contact_id)
        return await self._create(path, Task, key="task", json=write(task), resource="task", lookup=lookup)

    async def update(self, contact_id: str, task_id: str, task: TaskInput) -> Task:
        path = self._path(contact_id, task_id)
        return await self._put(path, Task, key="task", json=write(task))

    async def set_completed(self, contact_id: str, task_id: str, completed: bool) -> Task:
        path = self._path(contact_id, task_id) + "/completed"
        return await self._put(path, Task, key="task", json={"completed": completed})

    async def delete(self, contact_id: str, task_id: str) -> None:
        await self._client.call("DELETE", self._path(contact_id, task_id), kind=RequestKind.IDEMPOTENT)

    async def find(self, contact_id: str, *, title_sha256: str, due_date: str | None = None) -> Task | None:
        for task in await self.list(contact_id):
            if task.title is not None and digest(task.title) == title_sha256:
                return task
        return None
