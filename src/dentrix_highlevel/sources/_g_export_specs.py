"""What each G export file holds (SOURCE-NOTES §7): columns and their kinds, keys, foreign keys.

The table below *is* the format: staging, validation and the availability counts all read it. Column names
are the real Dentrix view/table column names (matched case-insensitively); *ext* columns are ours.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["FILE_SPECS", "REQUIRED_FILES", "SPECS_BY_NAME", "Col", "FileSpec", "ForeignKey", "Kind"]


class Kind(enum.Enum):
    KEY = "key"  # an identifier that must be present; exact text (leading zeros kept)
    REF = "ref"  # an identifier that may be absent; blank or "0" means none
    TEXT = "text"  # trimmed text; blank = unknown
    NOTE = "note"  # long text: only trailing padding trimmed, inner line breaks kept
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"


@attrs.frozen
class Col:
    name: str
    kind: Kind = Kind.TEXT
    required: bool = False  # the column must exist in the header (its values may still be blank)
    choices: frozenset[str] | None = None  # allowed normalised values; others are a bad_code issue
    int_range: tuple[int, int] | None = None  # allowed range for INT columns (bad_number outside)


@attrs.frozen
class ForeignKey:
    column: str
    target: str  # file name
    target_column: str
    drop: bool = False  # a dangling reference drops the row (it cannot be attached to anything)


@attrs.frozen
class FileSpec:
    name: str
    columns: tuple[Col, ...]
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    aliases: tuple[str, ...] = ()
    required: bool = False
    patient_column: str | None = None  # the column that ties a row to a patient (indexed for bundling)
    keeps_extra: bool = False  # unknown columns go to the record's ``extra``
    ignored: frozenset[str] = frozenset()  # known columns we deliberately never read (SSN, licences...)

    @property
    def table(self) -> str:
        return "t_" + self.name.removesuffix(".csv")


def _cols(spec: str) -> tuple[Col, ...]:
    """Columns in file order from ``name[:kind][!]`` words: *kind* is a ``Kind`` value (text when left out)
    and ``!`` marks a column the header must have. Columns with choices or a range are written as ``Col``."""
    out: list[Col] = []
    for word in spec.split():
        name, _, kind = word.removesuffix("!").partition(":")
        out.append(Col(name, Kind(kind or "text"), word.endswith("!")))
    return tuple(out)


def _fks(spec: str) -> tuple[ForeignKey, ...]:
    """Foreign keys from ``column>file:target_column[!]`` words; ``!`` drops a row whose reference dangles."""
    out: list[ForeignKey] = []
    for word in spec.split():
        column, _, target = word.removesuffix("!").partition(">")
        file, _, target_column = target.partition(":")
        out.append(ForeignKey(column, file, target_column, drop=word.endswith("!")))
    return tuple(out)


_NEVER_READ = frozenset({"social_sec_num", "ssn", "driverslicense"})  # not needed for a CRM; PHI
_REFERRER = Col("refbytype", choices=frozenset({"patient", "referral"}))

_PATIENT = FileSpec(
    "v_patient.csv",
    (
        *_cols("patient_id:key! last_name! first_name!"),
        Col("status", Kind.INT, True, choices=frozenset({"1", "2", "3", "4"})),
        *_cols("""
            guar_id:ref! patient_guid mi preferred_name salutation title address_line1 address_line2 city
            state zipcode home_phone work_phone work_ext other_phone mobile_phone chart_num email fax
            pri_provider_id:ref sec_provider_id:ref employer_id:ref primdentalinsuredid:ref
            secdentalinsuredid:ref refid:ref refbyid:ref reftoid:ref
        """),
        _REFERRER,
        *_cols("""
            gender:int num_of_missed_appointments:int privacy_flags:int fampos:int language:int
            priminsrel:int secinsrel:int medalertmask1:int medalertmask2:int premed:int
            birth_date:date first_visit_date:date last_visit_date:date last_missed_appointment:date
            reftodate:date
            isguar:bool isheadofhouse:bool isinssubcriber:bool note:note automodifiedtimestamp:datetime
        """),
    ),
    key=("patient_id",),
    foreign_keys=_fks("""
        guar_id>v_patient.csv:patient_id pri_provider_id>v_provider.csv:provider_id
        sec_provider_id>v_provider.csv:provider_id employer_id>v_employers.csv:employer_id
        primdentalinsuredid>v_insured.csv:insured_id secdentalinsuredid>v_insured.csv:insured_id
    """),
    required=True,
    patient_column="patient_id",
    keeps_extra=True,
    ignored=_NEVER_READ
    | frozenset(
        {
            "guar_guid",
            "pri_provider_last_name",
            "pri_provider_first_name",
            "sec_provider_last_name",
            "sec_provider_first_name",
            "primmedicalinsuredid",
            "secmedicalinsuredid",
        }
    ),
)

_PROVIDER = FileSpec(
    "v_provider.csv",
    _cols("""
        provider_id:key! last_name! first_name! inactive:bool! mi suffix title email specialty_description
        npi work_phone work_phone_ext address_line1 address_line2 city state zip_code specialty_id:ref
        isnonperson:bool issecondaryprovider:int automodifiedtimestamp:datetime
    """),
    key=("provider_id",),
    foreign_keys=_fks("specialty_id>v_referral_specialty.csv:defid"),
    required=True,
    keeps_extra=True,
    ignored=_NEVER_READ | frozenset({"state_id", "medicaid_id", "drug_id"}),
)

_STAFF = FileSpec(
    "v_staff.csv",
    _cols("""
        staff_id:key! last_name! first_name! title inactive:bool
    """),
    key=("staff_id",),
    keeps_extra=True,
    ignored=_NEVER_READ,
)

_OPERATORY = FileSpec("v_operatory.csv", _cols("op_id:key! op_title!"), key=("op_id",), required=True)

_APPOINTMENT = FileSpec(
    "v_appointment.csv",
    (
        *_cols("""
            appointment_id:key! patient_id:ref! appointment_date:date!
        """),
        Col("start_hour", Kind.INT, True, int_range=(0, 23)),
        Col("start_minute", Kind.INT, True, int_range=(0, 59)),
        Col("length", Kind.INT, True, int_range=(0, 24 * 60)),
        *_cols("""
            provider_id:ref! operatory_id:ref! status_id:ref! addtnl_provider_id:ref appttype:ref
            broken:bool deleted:bool on_unscheduled_list:bool apptflag:int appt_broken_class:int
            reason patient_name status_description note:note amount:decimal broken_date:date
            create_date:date modified_time_stamp:datetime
        """),
    ),
    key=("appointment_id",),
    foreign_keys=_fks("""
        patient_id>v_patient.csv:patient_id! provider_id>v_provider.csv:provider_id
        addtnl_provider_id>v_provider.csv:provider_id operatory_id>v_operatory.csv:op_id
        status_id>v_appt_status_codes.csv:defid appttype>v_appointment_types.csv:def_id
    """),
    aliases=("v_appt.csv",),
    required=True,
    patient_column="patient_id",
    keeps_extra=True,
    ignored=frozenset(
        {"provider_last_name", "provider_first_name", "provider_mi", "patient_guid", "patient_phone"}
    ),
)

_APPT_PROCEDURES = FileSpec(
    "appt_procedures.csv",
    (
        *_cols("apptid:key!"),
        Col("seq", Kind.INT, True, int_range=(1, 20)),
        Col("codetype", Kind.INT, True, int_range=(0, 1)),
        *_cols("""
            codeid:key! adacode tooth surface abbrevdescript
        """),
    ),
    key=("apptid", "seq"),
    foreign_keys=_fks("apptid>v_appointment.csv:appointment_id!"),
)

_MEANINGS = frozenset(
    {"unconfirmed", "confirmed", "left_message", "arrived", "seated", "complete", "broken", "other"}
)


def _deftable(
    name: str, id_col: str = "def_id", desc_col: str = "descript", *, required: bool = False
) -> FileSpec:
    return FileSpec(
        name,
        _cols(f"{id_col}:key! {desc_col}! modified_time_stamp:datetime"),
        key=(id_col,),
        required=required,
    )


_STATUS_CODES = FileSpec(
    "v_appt_status_codes.csv",
    (*_cols("defid:key! descript!"), Col("meaning", choices=_MEANINGS)),
    key=("defid",),
    required=True,
)

_INSURANCE_PLANS = FileSpec(
    "v_insurance_plans.csv",
    (
        *_cols("""
            ins_id:key! ins_co_name! group_name group_number payor_id phone address_line1 city state
            zip_code max_cov_person:decimal max_cov_fam:decimal
        """),
        Col("renew_month", Kind.INT, int_range=(0, 12)),
        *_cols("employer_id:ref"),
    ),
    key=("ins_id",),
    keeps_extra=True,
)

_INSURED = FileSpec(
    "v_insured.csv",
    _cols("""
        insured_id:key! ins_plan_id:ref! ins_party_id:ref! id_num! idnum2 ins_type:int sigonfile:bool
        fambenefits:decimal
    """),
    key=("insured_id",),
    foreign_keys=_fks("ins_plan_id>v_insurance_plans.csv:ins_id ins_party_id>v_patient.csv:patient_id"),
)

_PATIENT_INSURANCE = FileSpec(
    "v_patient_insurance.csv",
    _cols("""
        patient_id:key! primary_insured_id:ref! secondary_insured_id:ref! priminsrel:int secinsrel:int
    """),
    key=("patient_id",),
    foreign_keys=_fks("""
        patient_id>v_patient.csv:patient_id! primary_insured_id>v_insured.csv:insured_id
        secondary_insured_id>v_insured.csv:insured_id
    """),
    patient_column="patient_id",
    ignored=frozenset({"patient_guid", "last_name", "first_name", "modified_time_stamp"}),
)

_PROCCODE = FileSpec(
    "proccode.csv",
    _cols("""
        proccodeid:key! adacode! abbrevdescript! descript laymandescript category treatmentarea
        autorecall:ref appttype:ref
    """),
    key=("proccodeid",),
)

_STATUS_TEXT = frozenset({"treatment_planned", "completed", "existing", "existing_other", "condition"})
_LEDGER_TYPES = frozenset(
    {
        "procedure",
        "patient_payment",
        "insurance_payment",
        "credit_adjustment",
        "debit_adjustment",
        "balance_forward",
    }
)

_FULLPROCLOG = FileSpec(
    "fullproclog.csv",
    (
        *_cols("""
            procid:key! patid:key! procdate:date! proccodeid:ref! chartstatus:int! proclogclass:int!
            provid:ref! amt:decimal! guarid:ref txcaseid:ref claimid:ref type_def_id:ref toothrangestart
            toothrangeend adacode tooth surface checknum surfm:bool surfo:bool surfd:bool surfl:bool
            surff:bool surf5:bool history:bool txcaseindex:int amtpriminspaid:decimal amtsecinspaid:decimal
            createdate:date startdate:date completiondate:date automodifiedtimestamp:datetime
        """),
        Col("status_text", choices=_STATUS_TEXT),
        Col("ledger_type", choices=_LEDGER_TYPES),
    ),
    key=("procid",),
    foreign_keys=_fks("""
        patid>v_patient.csv:patient_id! proccodeid>proccode.csv:proccodeid
        provid>v_provider.csv:provider_id txcaseid>txcase.csv:txcaseid
    """),
    patient_column="patid",
)

_GUARANTOR_BALANCE = FileSpec(
    "v_guarantor_balance.csv",
    _cols("""
        guar_id:key! balance_0_30_days:decimal! balance_31_60_days:decimal! balance_61_90_days:decimal!
        balance_91_plus_days:decimal! last_payment_received_date:date last_payment_amount:decimal
        billing_type_description
    """),
    key=("guar_id",),
    foreign_keys=_fks("guar_id>v_patient.csv:patient_id!"),
    required=True,
    patient_column="guar_id",
    ignored=_NEVER_READ
    | frozenset({"guar_guid", "last_name", "first_name", "email", "mobile_phone", "birth_date", "status"}),
)

_CLINICAL_NOTES = FileSpec(
    "v_clinical_notes.csv",
    _cols("""
        cnotes_id:key! patient_id:key! create_date_time_stamp:datetime! note_text:note! provider_id:ref
        entry_date_time_stamp:datetime note_locked:bool modified_time_stamp:datetime
    """),
    key=("cnotes_id",),
    foreign_keys=_fks("patient_id>v_patient.csv:patient_id! provider_id>v_provider.csv:provider_id"),
    patient_column="patient_id",
    ignored=frozenset({"patient_guid", "last_name", "first_name", "mi"}),
)

_CASE_STATUS = frozenset(
    {
        "created",
        "printed",
        "pre_auth_primary",
        "pre_auth_secondary",
        "follow_up_made",
        "preferred",
        "proposed",
        "accepted",
        "rejected",
        "completed",
    }
)

_TXCASE = FileSpec(
    "txcase.csv",
    (
        *_cols("""
            txcaseid:key! patid:key! status:int! descript! createdate:date! priority:int txcaseindex:int
            isdefault:bool financeexpdate:date
        """),
        Col("status_text", choices=_CASE_STATUS),
    ),
    key=("txcaseid",),
    foreign_keys=_fks("patid>v_patient.csv:patient_id!"),
    patient_column="patid",
)

_RECALLTYPE = FileSpec(
    "recalltype.csv",
    (
        *_cols("""
            recallid:key! name! patid:ref descript unit:int qty:int provtype:int status:int
        """),
        Col("interval_months", Kind.INT, int_range=(0, 600)),
        *_cols("provid:ref"),
    ),
    key=("recallid", "patid"),
    required=True,
)

_RECALLPENDING = FileSpec(
    "recallpending.csv",
    _cols("""
        recallid:key! patid:key! duedate:date! guarid:ref apptid:ref provid:ref setdate:date priordate:date
        status:int
    """),
    key=("patid", "recallid"),
    foreign_keys=_fks("patid>v_patient.csv:patient_id! recallid>recalltype.csv:recallid"),
    required=True,
    patient_column="patid",
)

_DOCUMENT = FileSpec(
    "document.csv",
    _cols("""
        docid:key! doctypeid:ref! descript! createdate:date! pages:int lockeddate:date docfmt file_path
        mime_type sha256 url
    """),
    key=("docid",),
    foreign_keys=_fks("doctypeid>v_document_types.csv:dc_doctype_id"),
)

_DOCATTACH = FileSpec(
    "docattach.csv",
    _cols("""
        attachid:key! docid:key! attachtotype:int! attachtoentityid:key! signatureid:ref
    """),
    key=("attachid",),
    foreign_keys=_fks("docid>document.csv:docid!"),
    patient_column="attachtoentityid",
)

_IMAGES = FileSpec(
    "images.csv",
    _cols("""
        patient_id:key! imaging_system:key! image_id:key! image_date:date! chart_num modality tooth
        file_path
    """),
    key=("imaging_system", "image_id"),
    foreign_keys=_fks("patient_id>v_patient.csv:patient_id!"),
    patient_column="patient_id",
)

_REFERRAL = FileSpec(
    "referral.csv",
    _cols("""
        refid:key! lastname! reftype:int firstname mi title email fax otherphone street1 city state
        zipcode phone specialtyid:ref nonpersonflag:bool
    """),
    key=("refid",),
    foreign_keys=_fks("specialtyid>v_referral_specialty.csv:defid"),
)

_REFACTS = FileSpec(
    "refacts.csv",
    (*_cols("refid:key! patid:key! refactdate:date! refactsid:ref refactstype:int"), _REFERRER),
    foreign_keys=_fks("patid>v_patient.csv:patient_id! refid>referral.csv:refid"),
    patient_column="patid",
)

_HHITEM = FileSpec(
    "hhitem.csv",
    _cols("""
        itemid:key! hhtype:int! description! status:int critical:bool popup:bool
    """),
    key=("itemid",),
)

_HHLINK = FileSpec(
    "hhlinkpat_item.csv",
    _cols("""
        linkid:key! patid:key! hhitemid:key! status:int reporteddate:date startdate:date enddate:date
        note:note critical:bool
    """),
    key=("linkid",),
    foreign_keys=_fks("patid>v_patient.csv:patient_id! hhitemid>hhitem.csv:itemid"),
    patient_column="patid",
)

_PATALERTS = FileSpec(
    "patalerts.csv",
    _cols("""
        alertid:key! patid:key! descript! startdate:date enddate:date alerttype:int
    """),
    key=("alertid",),
    foreign_keys=_fks("patid>v_patient.csv:patient_id!"),
    patient_column="patid",
)

_CONTACT = FileSpec(
    "contact.csv",
    (
        *_cols("""
            contactid:key! patid:key! contactdate:datetime! contacttype:int! contacttime title provid:ref
            notetext:note
        """),
        Col("contact_kind", choices=frozenset({"call", "letter", "email", "text", "appointment", "other"})),
    ),
    key=("contactid",),
    foreign_keys=_fks("patid>v_patient.csv:patient_id!"),
    patient_column="patid",
)

_EMPLOYERS = FileSpec(
    "v_employers.csv",
    _cols("""
        employer_id:key! employer_name! address_line1 city state zip_code phone
    """),
    key=("employer_id",),
)

_PRACTICE = FileSpec(
    "v_practice_information.csv",
    _cols("""
        practice_name! address_line1 address_line2 city state zip_code phone fiscal_beg_month:int
    """),
)

FILE_SPECS: tuple[FileSpec, ...] = (
    # Parents before children: foreign keys are checked (and dangling rows dropped) in this order.
    _PRACTICE,
    _deftable("v_referral_specialty.csv", "defid", "description"),
    _PROVIDER,
    _STAFF,
    _OPERATORY,
    _STATUS_CODES,
    _deftable("v_appointment_types.csv", required=True),
    _deftable("v_payment_types.csv"),
    _deftable("v_adjustment_types.csv"),
    _deftable("v_billing_types.csv"),
    _deftable("v_document_types.csv", "dc_doctype_id", "doctype_desc"),
    _deftable("v_practice_medical_alerts.csv"),
    _EMPLOYERS,
    _INSURANCE_PLANS,
    _PATIENT,
    _INSURED,
    _PATIENT_INSURANCE,
    _APPOINTMENT,
    _APPT_PROCEDURES,
    _PROCCODE,
    _TXCASE,
    _FULLPROCLOG,
    _GUARANTOR_BALANCE,
    _CLINICAL_NOTES,
    _RECALLTYPE,
    _RECALLPENDING,
    _DOCUMENT,
    _DOCATTACH,
    _IMAGES,
    _REFERRAL,
    _REFACTS,
    _HHITEM,
    _HHLINK,
    _PATALERTS,
    _CONTACT,
)

SPECS_BY_NAME: dict[str, FileSpec] = {spec.name: spec for spec in FILE_SPECS}
REQUIRED_FILES: tuple[str, ...] = tuple(spec.name for spec in FILE_SPECS if spec.required)
