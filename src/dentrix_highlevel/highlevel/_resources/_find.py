"""Resolving an :class:`AmbiguousWriteError`: does the object exist after all?"""

from __future__ import annotations

from typing import Protocol, TypeAlias

from dentrix_highlevel._errors import AmbiguousWriteError, ConfigurationError
from dentrix_highlevel.highlevel._models import (
    Appointment,
    Calendar,
    Contact,
    CustomField,
    CustomValue,
    LocationTag,
    Note,
    Opportunity,
    Task,
    User,
)
from dentrix_highlevel.highlevel._resources._appointments import Appointments
from dentrix_highlevel.highlevel._resources._associations import Association, Associations, Relation
from dentrix_highlevel.highlevel._resources._calendars import Calendars
from dentrix_highlevel.highlevel._resources._contacts import Contacts
from dentrix_highlevel.highlevel._resources._custom_fields import CustomFields
from dentrix_highlevel.highlevel._resources._custom_values import CustomValues
from dentrix_highlevel.highlevel._resources._media import Media, MediaFile
from dentrix_highlevel.highlevel._resources._notes import Notes
from dentrix_highlevel.highlevel._resources._opportunities import Opportunities
from dentrix_highlevel.highlevel._resources._tags import Tags
from dentrix_highlevel.highlevel._resources._tasks import Tasks
from dentrix_highlevel.highlevel._resources._users import Users

__all__ = ["FindingGroups", "FoundObject", "find_created"]

FoundObject: TypeAlias = (
    Contact
    | Note
    | Task
    | CustomField
    | CustomValue
    | Opportunity
    | Appointment
    | User
    | Calendar
    | Association
    | Relation
    | MediaFile
    | LocationTag
)
"""What ``HighLevelClient.find_created`` can find: the object an ambiguous create was making."""


class FindingGroups(Protocol):
    """The client's resource groups that can look a created object up (read-only: the client owns them,
    and ``users`` keeps the company id it has read)."""

    @property
    def appointments(self) -> Appointments: ...
    @property
    def associations(self) -> Associations: ...
    @property
    def calendars(self) -> Calendars: ...
    @property
    def contacts(self) -> Contacts: ...
    @property
    def custom_fields(self) -> CustomFields: ...
    @property
    def custom_values(self) -> CustomValues: ...
    @property
    def media(self) -> Media: ...
    @property
    def notes(self) -> Notes: ...
    @property
    def opportunities(self) -> Opportunities: ...
    @property
    def tags(self) -> Tags: ...
    @property
    def tasks(self) -> Tasks: ...
    @property
    def users(self) -> Users: ...


async def find_created(client: FindingGroups, error: AmbiguousWriteError) -> FoundObject | None:
    """The object the failed create was making, if HighLevel has it; None when it does not exist.

    None means creating again is safe. Some lookups read from indexes that lag writes by seconds (contact
    duplicate search): callers resolving right after the failure may want to wait briefly first.
    """
    key = error.lookup
    resource = error.resource
    if resource == "contact":
        if not key.get("email") and not key.get("phone"):
            raise ConfigurationError("this contact create had no email or phone to look it up by")
        return await client.contacts.find_duplicate(email=key.get("email"), phone=key.get("phone"))
    if resource == "note":
        return await client.notes.find(key["contactId"], body_sha256=key["bodySha256"])
    if resource == "task":
        return await client.tasks.find(key["contactId"], title_sha256=key["titleSha256"])
    if resource == "custom_field":
        return await client.custom_fields.find(name=key["name"], model=key.get("model", "contact"))
    if resource == "custom_value":
        return await client.custom_values.find(name=key["name"])
    if resource == "opportunity":
        return await client.opportunities.find(contact_id=key["contactId"], pipeline_id=key["pipelineId"])
    if resource == "appointment":
        return await client.appointments.find(
            calendar_id=key["calendarId"], contact_id=key["contactId"], start_time=key["startTime"]
        )
    if resource == "user":
        return await client.users.find(email=key["email"])
    if resource == "calendar":
        return await client.calendars.find(name=key["name"])
    if resource == "association":
        return await client.associations.find(key=key["key"])
    if resource == "relation":
        return await client.associations.find_relation(
            association_id=key["associationId"],
            first_record_id=key["firstRecordId"],
            second_record_id=key["secondRecordId"],
        )
    if resource in ("media", "document"):
        # Uploads are named from ids (``dentrix-document-<id>.<ext>``): the name finds the file again.
        return await client.media.find(name=key["name"])
    if resource == "tag":
        folded = key["name"].casefold()
        return next((t for t in await client.tags.list() if (t.name or "").casefold() == folded), None)
    raise ConfigurationError(f"no lookup for ambiguous {resource} creates; check HighLevel by hand")
