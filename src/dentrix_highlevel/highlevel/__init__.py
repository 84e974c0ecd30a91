"""The async HighLevel API v2 client: typed resource groups, one shared rate limiter per sub-account.

::

    async with HighLevelClient(location_id="ve9EPM428h8vShlRW1KT", auth="pit-…") as hl:
        result = await hl.contacts.upsert(ContactInput(email="a@b.example", first_name="Ada"))
"""

from dentrix_highlevel.highlevel._auth import (
    AgencyLocationToken,
    Auth,
    LocationToken,
    OAuthToken,
    OAuthTokens,
    PrivateIntegrationToken,
    TokenEndpoint,
)
from dentrix_highlevel.highlevel._client import DEFAULT_BASE_URL, HighLevelClient, RequestKind, version_for
from dentrix_highlevel.highlevel._inputs import (
    AppointmentInput,
    ContactInput,
    CustomFieldInput,
    CustomFieldValue,
    CustomValueInput,
    NoteInput,
    OpportunityInput,
    TaskInput,
    UserInput,
)
from dentrix_highlevel.highlevel._limiter import (
    LimiterRegistry,
    RateBudget,
    RateLimiter,
    SendTicket,
    default_registry,
)
from dentrix_highlevel.highlevel._models import (
    Appointment,
    Calendar,
    Contact,
    CustomField,
    CustomFieldReading,
    CustomValue,
    Location,
    LocationSettings,
    LocationTag,
    Note,
    Opportunity,
    OpportunityUpsertResult,
    Pipeline,
    PipelineStage,
    Task,
    UploadedFile,
    UpsertResult,
    User,
    UserRoles,
)
from dentrix_highlevel.highlevel._resources._associations import Association, Relation
from dentrix_highlevel.highlevel._retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "AgencyLocationToken",
    "Appointment",
    "AppointmentInput",
    "Association",
    "Auth",
    "Calendar",
    "Contact",
    "ContactInput",
    "CustomField",
    "CustomFieldInput",
    "CustomFieldReading",
    "CustomFieldValue",
    "CustomValue",
    "CustomValueInput",
    "HighLevelClient",
    "LimiterRegistry",
    "Location",
    "LocationSettings",
    "LocationTag",
    "LocationToken",
    "Note",
    "NoteInput",
    "OAuthToken",
    "OAuthTokens",
    "Opportunity",
    "OpportunityInput",
    "OpportunityUpsertResult",
    "Pipeline",
    "PipelineStage",
    "PrivateIntegrationToken",
    "RateBudget",
    "RateLimiter",
    "Relation",
    "RequestKind",
    "RetryPolicy",
    "SendTicket",
    "Task",
    "TaskInput",
    "TokenEndpoint",
    "UploadedFile",
    "UpsertResult",
    "User",
    "UserInput",
    "UserRoles",
    "default_registry",
    "version_for",
]
