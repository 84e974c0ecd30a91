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


def _cols(spec: str, kind: Kind = Kind.TEXT, *, required: bool = False) -> tuple[Col, ...]:
    return tuple(Col(name, kind, required) for name in spec.split())


K, R, T, N, INT, D, B, DA, DT = (
    Kind.KEY,
    Kind.REF,
    Kind.TEXT,
    Kind.NOTE,
    Kind.INT,
    Kind.DECIMAL,
    Kind.BOOL,
    Kind.DATE,
    Kind.DATETIME,
)

_NEVER_READ = frozenset({"social_sec_num", "ssn", "driverslicense"})  # not needed for a CRM; PHI

_PATIENT = FileSpec(
    "v_patient.csv",
    (
        Col("patient_id", K, True),
        Col("last_name", T, True),
        Col("first_name", T, True),
        Col("status", INT, True, choices=frozenset({"1", "2", "3", "4"})),
        Col("guar_id", R, True),
        *_cols(
            "patient_guid mi preferred_name salutation title address_line1 address_line2 city state zipcode"
        ),
        *_cols("home_phone work_phone work_ext other_phone mobile_phone chart_num email fax"),
        *_cols("pri_provider_id sec_provider_id employer_id primdentalinsuredid secdentalinsuredid", R),
        *_cols("refid refbyid reftoid", R),
        Col("refbytype", T, choices=frozenset({"patient", "referral"})),
        *_cols("gender num_of_missed_appointments privacy_flags fampos language priminsrel secinsrel", INT),
        *_cols("medalertmask1 medalertmask2 premed", INT),
        *_cols("birth_date first_visit_date last_visit_date last_missed_appointment reftodate", DA),
        *_cols("isguar isheadofhouse isinssubcriber", B),
        Col("note", N),
        Col("automodifiedtimestamp", DT),
    ),
    key=("patient_id",),
    foreign_keys=(
        ForeignKey("guar_id", "v_patient.csv", "patient_id"),
        ForeignKey("pri_provider_id", "v_provider.csv", "provider_id"),
        ForeignKey("sec_provider_id", "v_provider.csv", "provider_id"),
        ForeignKey("employer_id", "v_employers.csv", "employer_id"),
        ForeignKey("primdentalinsuredid", "v_insured.csv", "insured_id"),
        ForeignKey("secdentalinsuredid", "v_insured.csv", "insured_id"),
    ),
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
    (
        Col("provider_id", K, True),
        Col("last_name", T, True),
        Col("first_name", T, True),
        Col("inactive", B, True),
        *_cols("mi suffix title email specialty_description npi work_phone work_phone_ext"),
        *_cols("address_line1 address_line2 city state zip_code"),
        Col("specialty_id", R),
        *_cols("isnonperson", B),
        Col("issecondaryprovider", INT),
        Col("automodifiedtimestamp", DT),
    ),
    key=("provider_id",),
    foreign_keys=(ForeignKey("specialty_id", "v_referral_specialty.csv", "defid"),),
    required=True,
    keeps_extra=True,
    ignored=_NEVER_READ | frozenset({"state_id", "medicaid_id", "drug_id"}),
)

_STAFF = FileSpec(
    "v_staff.csv",
    (
        Col("staff_id", K, True),
        Col("last_name", T, True),
        Col("first_name", T, True),
        Col("title"),
        Col("inactive", B),
    ),
    key=("staff_id",),
    keeps_extra=True,
    ignored=_NEVER_READ,
)

_OPERATORY = FileSpec(
    "v_operatory.csv", (Col("op_id", K, True), Col("op_title", T, True)), key=("op_id",), required=True
)

_APPOINTMENT = FileSpec(
    "v_appointment.csv",
    (
        Col("appointment_id", K, True),
        Col("patient_id", R, True),
        Col("appointment_date", DA, True),
        Col("start_hour", INT, True, int_range=(0, 23)),
        Col("start_minute", INT, True, int_range=(0, 59)),
        Col("length", INT, True, int_range=(0, 24 * 60)),
        Col("provider_id", R, True),
        Col("operatory_id", R, True),
        Col("status_id", R, True),
        *_cols("addtnl_provider_id appttype", R),
        *_cols("broken deleted on_unscheduled_list", B),
        *_cols("apptflag appt_broken_class", INT),
        *_cols("reason patient_name status_description"),
        Col("note", N),
        Col("amount", D),
        *_cols("broken_date create_date", DA),
        Col("modified_time_stamp", DT),
    ),
    key=("appointment_id",),
    foreign_keys=(
        ForeignKey("patient_id", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("provider_id", "v_provider.csv", "provider_id"),
        ForeignKey("addtnl_provider_id", "v_provider.csv", "provider_id"),
        ForeignKey("operatory_id", "v_operatory.csv", "op_id"),
        ForeignKey("status_id", "v_appt_status_codes.csv", "defid"),
        ForeignKey("appttype", "v_appointment_types.csv", "def_id"),
    ),
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
        Col("apptid", K, True),
        Col("seq", INT, True, int_range=(1, 20)),
        Col("codetype", INT, True, int_range=(0, 1)),
        Col("codeid", K, True),
        *_cols("adacode tooth surface abbrevdescript"),
    ),
    key=("apptid", "seq"),
    foreign_keys=(ForeignKey("apptid", "v_appointment.csv", "appointment_id", drop=True),),
)

_MEANINGS = frozenset(
    {"unconfirmed", "confirmed", "left_message", "arrived", "seated", "complete", "broken", "other"}
)


def _deftable(
    name: str, id_col: str = "def_id", desc_col: str = "descript", *, required: bool = False
) -> FileSpec:
    return FileSpec(
        name,
        (Col(id_col, K, True), Col(desc_col, T, True), Col("modified_time_stamp", DT)),
        key=(id_col,),
        required=required,
    )


_STATUS_CODES = FileSpec(
    "v_appt_status_codes.csv",
    (Col("defid", K, True), Col("descript", T, True), Col("meaning", T, choices=_MEANINGS)),
    key=("defid",),
    required=True,
)

_INSURANCE_PLANS = FileSpec(
    "v_insurance_plans.csv",
    (
        Col("ins_id", K, True),
        Col("ins_co_name", T, True),
        *_cols("group_name group_number payor_id phone address_line1 city state zip_code"),
        *_cols("max_cov_person max_cov_fam", D),
        Col("renew_month", INT, int_range=(0, 12)),
        Col("employer_id", R),
    ),
    key=("ins_id",),
    keeps_extra=True,
)

_INSURED = FileSpec(
    "v_insured.csv",
    (
        Col("insured_id", K, True),
        Col("ins_plan_id", R, True),
        Col("ins_party_id", R, True),
        Col("id_num", T, True),
        Col("idnum2"),
        Col("ins_type", INT),
        Col("sigonfile", B),
        Col("fambenefits", D),
    ),
    key=("insured_id",),
    foreign_keys=(
        ForeignKey("ins_plan_id", "v_insurance_plans.csv", "ins_id"),
        ForeignKey("ins_party_id", "v_patient.csv", "patient_id"),
    ),
)

_PATIENT_INSURANCE = FileSpec(
    "v_patient_insurance.csv",
    (
        Col("patient_id", K, True),
        Col("primary_insured_id", R, True),
        Col("secondary_insured_id", R, True),
        *_cols("priminsrel secinsrel", INT),
    ),
    key=("patient_id",),
    foreign_keys=(
        ForeignKey("patient_id", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("primary_insured_id", "v_insured.csv", "insured_id"),
        ForeignKey("secondary_insured_id", "v_insured.csv", "insured_id"),
    ),
    patient_column="patient_id",
    ignored=frozenset({"patient_guid", "last_name", "first_name", "modified_time_stamp"}),
)

_PROCCODE = FileSpec(
    "proccode.csv",
    (
        Col("proccodeid", K, True),
        Col("adacode", T, True),
        Col("abbrevdescript", T, True),
        *_cols("descript laymandescript category treatmentarea"),
        *_cols("autorecall appttype", R),
    ),
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
        Col("procid", K, True),
        Col("patid", K, True),
        Col("procdate", DA, True),
        Col("proccodeid", R, True),
        Col("chartstatus", INT, True),
        Col("proclogclass", INT, True),
        Col("provid", R, True),
        Col("amt", D, True),
        *_cols("guarid txcaseid claimid type_def_id", R),
        *_cols("toothrangestart toothrangeend adacode tooth surface checknum"),
        *_cols("surfm surfo surfd surfl surff surf5 history", B),
        Col("txcaseindex", INT),
        *_cols("amtpriminspaid amtsecinspaid", D),
        *_cols("createdate startdate completiondate", DA),
        Col("automodifiedtimestamp", DT),
        Col("status_text", T, choices=_STATUS_TEXT),
        Col("ledger_type", T, choices=_LEDGER_TYPES),
    ),
    key=("procid",),
    foreign_keys=(
        ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("proccodeid", "proccode.csv", "proccodeid"),
        ForeignKey("provid", "v_provider.csv", "provider_id"),
        ForeignKey("txcaseid", "txcase.csv", "txcaseid"),
    ),
    patient_column="patid",
)

_GUARANTOR_BALANCE = FileSpec(
    "v_guarantor_balance.csv",
    (
        Col("guar_id", K, True),
        *(
            Col(n, D, True)
            for n in ("balance_0_30_days", "balance_31_60_days", "balance_61_90_days", "balance_91_plus_days")
        ),
        Col("last_payment_received_date", DA),
        Col("last_payment_amount", D),
        Col("billing_type_description"),
    ),
    key=("guar_id",),
    foreign_keys=(ForeignKey("guar_id", "v_patient.csv", "patient_id", drop=True),),
    required=True,
    patient_column="guar_id",
    ignored=_NEVER_READ
    | frozenset({"guar_guid", "last_name", "first_name", "email", "mobile_phone", "birth_date", "status"}),
)

_CLINICAL_NOTES = FileSpec(
    "v_clinical_notes.csv",
    (
        Col("cnotes_id", K, True),
        Col("patient_id", K, True),
        Col("create_date_time_stamp", DT, True),
        Col("note_text", N, True),
        Col("provider_id", R),
        Col("entry_date_time_stamp", DT),
        Col("note_locked", B),
        Col("modified_time_stamp", DT),
    ),
    key=("cnotes_id",),
    foreign_keys=(
        ForeignKey("patient_id", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("provider_id", "v_provider.csv", "provider_id"),
    ),
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
        Col("txcaseid", K, True),
        Col("patid", K, True),
        Col("status", INT, True),
        Col("descript", T, True),
        Col("createdate", DA, True),
        *_cols("priority txcaseindex", INT),
        Col("isdefault", B),
        Col("financeexpdate", DA),
        Col("status_text", T, choices=_CASE_STATUS),
    ),
    key=("txcaseid",),
    foreign_keys=(ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),),
    patient_column="patid",
)

_RECALLTYPE = FileSpec(
    "recalltype.csv",
    (
        Col("recallid", K, True),
        Col("name", T, True),
        Col("patid", R),
        Col("descript"),
        *_cols("unit qty provtype status", INT),
        Col("interval_months", INT, int_range=(0, 600)),
        Col("provid", R),
    ),
    key=("recallid", "patid"),
    required=True,
)

_RECALLPENDING = FileSpec(
    "recallpending.csv",
    (
        Col("recallid", K, True),
        Col("patid", K, True),
        Col("duedate", DA, True),
        *_cols("guarid apptid provid", R),
        *_cols("setdate priordate", DA),
        Col("status", INT),
    ),
    key=("patid", "recallid"),
    foreign_keys=(
        ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("recallid", "recalltype.csv", "recallid"),
    ),
    required=True,
    patient_column="patid",
)

_DOCUMENT = FileSpec(
    "document.csv",
    (
        Col("docid", K, True),
        Col("doctypeid", R, True),
        Col("descript", T, True),
        Col("createdate", DA, True),
        Col("pages", INT),
        Col("lockeddate", DA),
        *_cols("docfmt file_path mime_type sha256 url"),
    ),
    key=("docid",),
    foreign_keys=(ForeignKey("doctypeid", "v_document_types.csv", "dc_doctype_id"),),
)

_DOCATTACH = FileSpec(
    "docattach.csv",
    (
        Col("attachid", K, True),
        Col("docid", K, True),
        Col("attachtotype", INT, True),
        Col("attachtoentityid", K, True),
        Col("signatureid", R),
    ),
    key=("attachid",),
    foreign_keys=(ForeignKey("docid", "document.csv", "docid", drop=True),),
    patient_column="attachtoentityid",
)

_IMAGES = FileSpec(
    "images.csv",
    (
        Col("patient_id", K, True),
        Col("imaging_system", K, True),
        Col("image_id", K, True),
        Col("image_date", DA, True),
        *_cols("chart_num modality tooth file_path"),
    ),
    key=("imaging_system", "image_id"),
    foreign_keys=(ForeignKey("patient_id", "v_patient.csv", "patient_id", drop=True),),
    patient_column="patient_id",
)

_REFERRAL = FileSpec(
    "referral.csv",
    (
        Col("refid", K, True),
        Col("lastname", T, True),
        Col("reftype", INT),
        *_cols("firstname mi title email fax otherphone street1 city state zipcode phone"),
        Col("specialtyid", R),
        Col("nonpersonflag", B),
    ),
    key=("refid",),
    foreign_keys=(ForeignKey("specialtyid", "v_referral_specialty.csv", "defid"),),
)

_REFACTS = FileSpec(
    "refacts.csv",
    (
        Col("refid", K, True),
        Col("patid", K, True),
        Col("refactdate", DA, True),
        Col("refactsid", R),
        Col("refactstype", INT),
        Col("refbytype", T, choices=frozenset({"patient", "referral"})),
    ),
    foreign_keys=(
        ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("refid", "referral.csv", "refid"),
    ),
    patient_column="patid",
)

_HHITEM = FileSpec(
    "hhitem.csv",
    (
        Col("itemid", K, True),
        Col("hhtype", INT, True),
        Col("description", T, True),
        Col("status", INT),
        *_cols("critical popup", B),
    ),
    key=("itemid",),
)

_HHLINK = FileSpec(
    "hhlinkpat_item.csv",
    (
        Col("linkid", K, True),
        Col("patid", K, True),
        Col("hhitemid", K, True),
        Col("status", INT),
        *_cols("reporteddate startdate enddate", DA),
        Col("note", N),
        Col("critical", B),
    ),
    key=("linkid",),
    foreign_keys=(
        ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),
        ForeignKey("hhitemid", "hhitem.csv", "itemid"),
    ),
    patient_column="patid",
)

_PATALERTS = FileSpec(
    "patalerts.csv",
    (
        Col("alertid", K, True),
        Col("patid", K, True),
        Col("descript", T, True),
        *_cols("startdate enddate", DA),
        Col("alerttype", INT),
    ),
    key=("alertid",),
    foreign_keys=(ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),),
    patient_column="patid",
)

_CONTACT = FileSpec(
    "contact.csv",
    (
        Col("contactid", K, True),
        Col("patid", K, True),
        Col("contactdate", DT, True),
        Col("contacttype", INT, True),
        *_cols("contacttime title"),
        Col("provid", R),
        Col("notetext", N),
        Col(
            "contact_kind", T, choices=frozenset({"call", "letter", "email", "text", "appointment", "other"})
        ),
    ),
    key=("contactid",),
    foreign_keys=(ForeignKey("patid", "v_patient.csv", "patient_id", drop=True),),
    patient_column="patid",
)

_EMPLOYERS = FileSpec(
    "v_employers.csv",
    (
        Col("employer_id", K, True),
        Col("employer_name", T, True),
        *_cols("address_line1 city state zip_code phone"),
    ),
    key=("employer_id",),
)

_PRACTICE = FileSpec(
    "v_practice_information.csv",
    (
        Col("practice_name", T, True),
        *_cols("address_line1 address_line2 city state zip_code phone"),
        Col("fiscal_beg_month", INT),
    ),
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
