"""The mapping DSL: transforms, field rules, field maps, map files and the column proposer.

::

    from dentrix_highlevel.mapping import (
        CustomFieldTarget, FieldMap, FieldRule, NameCase, Phone, PracticeSettings, StandardField, Trim,
    )

    contact_map = FieldMap(
        key_path="patient.patient_id",
        rules=[
            FieldRule(
                source="patient.first_name", transform=Trim() | NameCase(), target=StandardField("firstName")
            ),
            FieldRule(source="patient.mobile_phone", transform=Phone(), target=StandardField("phone")),
        ],
    )
    result = contact_map.apply(bundle, practice=PracticeSettings(timezone="America/Denver"))
    result.payload, result.issues, result.overflow

``default_maps(DefaultMapOptions(...))`` is the ready Dentrix → HighLevel map set; ``save_map``/``load_map``
write and read maps as files a person can edit; ``FuzzyProposer`` proposes targets for unmapped columns.
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.mapping._conflicts import FieldMatch, match_custom_field
from dentrix_highlevel.mapping._context import FieldContext, PracticeSettings
from dentrix_highlevel.mapping._default_map import (
    LIFECYCLE_STAGES,
    CdtHistoryMode,
    ClinicalNotesMode,
    DefaultMapOptions,
    DefaultMaps,
    Disposition,
    PastAppointmentsMode,
    PatientPolicy,
    default_computed,
    default_maps,
    lifecycle_stage,
    patient_disposition,
)
from dentrix_highlevel.mapping._dsl import (
    Chain,
    Coalesce,
    Collect,
    Computed,
    Constant,
    PathSource,
    Source,
    Transform,
    registered_transforms,
)
from dentrix_highlevel.mapping._map import FieldMap, FieldRule
from dentrix_highlevel.mapping._phones import Extension, FirstPhone, Phone, PhoneNumber, Phones
from dentrix_highlevel.mapping._propose import (
    ColumnProfile,
    ExistingCustomField,
    FuzzyProposer,
    Proposal,
    ProposalAction,
    Proposer,
    ValueShape,
)
from dentrix_highlevel.mapping._results import FieldIssue, MappingResult, OverflowItem, TransformOutcome
from dentrix_highlevel.mapping._serialize import (
    dumps_map,
    load_map,
    loads_map,
    map_from_dict,
    map_to_dict,
    save_map,
)
from dentrix_highlevel.mapping._targets import (
    CustomFieldTarget,
    DataType,
    FieldCategory,
    HighLevelObject,
    StandardField,
)
from dentrix_highlevel.mapping._transforms import (
    Default,
    DndFromFlags,
    Email,
    First,
    Format,
    FormatDate,
    HasFlag,
    Join,
    Lookup,
    Money,
    NameCase,
    Overflow,
    Sum,
    Tags,
    Text,
    ToBool,
    ToDate,
    ToDateTime,
    Trim,
    UnknownCode,
)

__all__ = [
    "LIFECYCLE_STAGES",
    "CdtHistoryMode",
    "Chain",
    "ClinicalNotesMode",
    "Coalesce",
    "Collect",
    "ColumnProfile",
    "Computed",
    "Constant",
    "CustomFieldTarget",
    "DataType",
    "Default",
    "DefaultMapOptions",
    "DefaultMaps",
    "Disposition",
    "DndFromFlags",
    "Email",
    "ExistingCustomField",
    "Extension",
    "FieldCategory",
    "FieldContext",
    "FieldIssue",
    "FieldMap",
    "FieldMatch",
    "FieldRule",
    "First",
    "FirstPhone",
    "Format",
    "FormatDate",
    "FuzzyProposer",
    "HasFlag",
    "HighLevelObject",
    "Join",
    "Lookup",
    "MappingResult",
    "Money",
    "NameCase",
    "Overflow",
    "OverflowItem",
    "PastAppointmentsMode",
    "PathSource",
    "PatientPolicy",
    "Phone",
    "PhoneNumber",
    "Phones",
    "PracticeSettings",
    "Proposal",
    "ProposalAction",
    "Proposer",
    "Source",
    "StandardField",
    "Sum",
    "Tags",
    "Text",
    "ToBool",
    "ToDate",
    "ToDateTime",
    "Transform",
    "TransformOutcome",
    "Trim",
    "UnknownCode",
    "ValueShape",
    "default_computed",
    "default_maps",
    "dumps_map",
    "lifecycle_stage",
    "load_map",
    "loads_map",
    "map_from_dict",
    "map_to_dict",
    "match_custom_field",
    "patient_disposition",
    "registered_transforms",
    "save_map",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
