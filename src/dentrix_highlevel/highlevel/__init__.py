"""The async HighLevel API v2 client: typed resource groups, one shared rate limiter per sub-account.

::

    async with HighLevelClient(location_id="ve9EPM428h8vShlRW1KT", auth="pit-…") as hl:
        result = await hl.contacts.upsert(ContactInput(email="a@b.example", first_name="Ada"))
"""

from dentrix_highlevel._http_limits import HttpLimits
from dentrix_highlevel._public import publish
from dentrix_highlevel.highlevel._auth import (
    AgencyLocationToken,
    Auth,
    LocationToken,
    OAuthToken,
    OAuthTokens,
    PrivateIntegrationToken,
    TokenEndpoint,
)
from dentrix_highlevel.highlevel._client import (
    DEFAULT_BASE_URL,
    HighLevelClient,
    RequestKind,
    SendTracker,
    version_for,
)
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
    clear_value,
    value_for_write,
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
    Workflow,
)
from dentrix_highlevel.highlevel._operations import OPERATIONS, Operation, operation, operation_for
from dentrix_highlevel.highlevel._resources._associations import Association, Relation
from dentrix_highlevel.highlevel._resources._find import FoundObject
from dentrix_highlevel.highlevel._resources._media import MediaFile
from dentrix_highlevel.highlevel._retry import RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "OPERATIONS",
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
    "FoundObject",
    "HighLevelClient",
    "HttpLimits",
    "LimiterRegistry",
    "Location",
    "LocationSettings",
    "LocationTag",
    "LocationToken",
    "MediaFile",
    "Note",
    "NoteInput",
    "OAuthToken",
    "OAuthTokens",
    "Operation",
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
    "SendTracker",
    "Task",
    "TaskInput",
    "TokenEndpoint",
    "UploadedFile",
    "UpsertResult",
    "User",
    "UserInput",
    "UserRoles",
    "Workflow",
    "clear_value",
    "default_registry",
    "operation",
    "operation_for",
    "value_for_write",
    "version_for",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals(), also=("dentrix_highlevel._http_limits",))
