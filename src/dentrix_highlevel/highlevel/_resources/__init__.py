"""The client's resource groups, one module each."""

from dentrix_highlevel.highlevel._resources._appointments import Appointments
from dentrix_highlevel.highlevel._resources._associations import Association, Associations, Relation
from dentrix_highlevel.highlevel._resources._calendars import Calendars
from dentrix_highlevel.highlevel._resources._contacts import Contacts
from dentrix_highlevel.highlevel._resources._custom_fields import CustomFields
from dentrix_highlevel.highlevel._resources._custom_values import CustomValues
from dentrix_highlevel.highlevel._resources._find import find_created
from dentrix_highlevel.highlevel._resources._locations import Locations
from dentrix_highlevel.highlevel._resources._media import Media
from dentrix_highlevel.highlevel._resources._notes import Notes
from dentrix_highlevel.highlevel._resources._opportunities import Opportunities, Pipelines
from dentrix_highlevel.highlevel._resources._tags import Tags
from dentrix_highlevel.highlevel._resources._tasks import Tasks
from dentrix_highlevel.highlevel._resources._users import Users
from dentrix_highlevel.highlevel._resources._workflows import Workflows

__all__ = [
    "Appointments",
    "Association",
    "Associations",
    "Calendars",
    "Contacts",
    "CustomFields",
    "CustomValues",
    "Locations",
    "Media",
    "Notes",
    "Opportunities",
    "Pipelines",
    "Relation",
    "Tags",
    "Tasks",
    "Users",
    "Workflows",
    "find_created",
]
