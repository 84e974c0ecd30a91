"""A deterministic synthetic Dentrix practice, as typed records, generated one family at a time.

Everything derives from ``(seed, family index)``, so any family can be regenerated on its own and a
1,000,000-patient practice streams in constant memory. The shared tables (providers, code tables, plans...)
are small and built once. ``SyntheticPractice.families()`` yields :class:`Family` objects holding finished
:class:`~dentrix_highlevel.records.PatientBundle` s — exactly what a source must read back from the
practice's G export (or an Ascend emulator serving it).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from dentrix_highlevel import records as rec
from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.sources._order import canonical_bundle
from dentrix_highlevel.synth import _pools as pools
from dentrix_highlevel.synth._documents import document_sha256

__all__ = ["Family", "HealthItem", "SynthConfig", "SyntheticPractice"]

_CENT = Decimal("0.01")
# Ids of the per-patient tables are spaced by patient so every family can number its rows on its own.
_ROWS_PER_PATIENT = 100


@attrs.frozen(kw_only=True)
class SynthConfig:
    """What practice to generate. Same config, same practice — byte for byte."""

    patients: int = 100
    seed: int = 0
    timezone: str = "America/Denver"
    today: dt.date = dt.date(2025, 6, 30)  # fixed, so a seed means the same practice every day
    non_latin_names: bool = True  # False for a Windows-1252 export
    unattached_appointment_rate: float = 0.005  # new-patient appointments without a patient record
    practice_id: str = "CVFD1"  # the manifest's practice id: two offices of a group need two of them

    def __attrs_post_init__(self) -> None:
        if self.patients < 1:
            raise ConfigurationError("patients must be at least 1")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"unknown time zone: {self.timezone!r}") from exc


@attrs.frozen(kw_only=True)
class HealthItem:
    """A practice health-history item (``hhitem``): what medical alerts point at."""

    item_id: str
    hh_type: int  # 1 condition, 3 medication, other allergy
    description: str
    critical: bool


@attrs.frozen(kw_only=True)
class Family:
    """One Family File: the guarantor's id and every member's bundle (guarantor first)."""

    index: int
    guarantor_id: str
    bundles: tuple[rec.PatientBundle, ...]


def _cp1252(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def _ascii(name: str) -> str:
    """The ASCII letters of a name, lower-cased, for an e-mail local part."""
    return "".join(ch for ch in name.lower() if "a" <= ch <= "z")


def _code_table(table: str, pool: Iterable[tuple[str, str]]) -> tuple[rec.CodeDefinition, ...]:
    return tuple(rec.CodeDefinition(table=table, def_id=i, description=d) for i, d in pool)


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_CENT)


class SyntheticPractice:
    """A synthetic practice: shared tables as attributes, patients via :meth:`families`/:meth:`bundles`."""

    def __init__(self, config: SynthConfig | None = None) -> None:
        self.config = config or SynthConfig()
        c = self.config
        self.practice = rec.PracticeInfo(
            name="Canyon View Family Dental",
            practice_id=c.practice_id,
            timezone=c.timezone,
            address_line1="400 University Ave",
            city="Provo",
            state="UT",
            zipcode="84601",
            phone="(801) 555-0100",
        )
        spec_names = dict(pools.SPECIALTIES)
        spec_ids = {v: k for k, v in pools.SPECIALTIES}
        self.specialties = tuple(
            rec.CodeDefinition(table="v_referral_specialty", def_id=k, description=v)
            for k, v in pools.SPECIALTIES
        )
        providers = [
            rec.Provider(
                provider_id=pid,
                last_name=last,
                first_name=first,
                title=title,
                kind=rec.ProviderKind(kind),
                specialty_id=spec_ids.get(spec) if spec else None,
                specialty_description=spec,
                npi=f"1{(int.from_bytes(pid.encode(), 'big') * 7919) % 10**9:09d}",
                email=f"{first.lower()}.{last.lower()}@canyonview.example.com",
                work_phone="(801) 555-0100",
                inactive=False,
                modified_at=dt.datetime(2024, 1, 15, 9, 30),
            )
            for pid, last, first, title, kind, spec in pools.PROVIDERS
        ]
        providers.append(
            rec.Provider(
                provider_id="DOC1",
                last_name="Emery",
                first_name="Walt",
                title="DDS",
                kind=rec.ProviderKind.DENTIST,
                specialty_id="1",
                specialty_description=spec_names["1"],
                inactive=True,  # retired: still on old appointments
                modified_at=dt.datetime(2019, 6, 1, 8, 0),
            )
        )
        self.providers = tuple(providers)
        self.staff = tuple(
            rec.Staff(staff_id=s, last_name=ln, first_name=fn, title=t) for s, ln, fn, t in pools.STAFF
        )
        self.operatories = tuple(rec.Operatory(operatory_id=o, title=t) for o, t in pools.OPERATORIES)
        self.appointment_statuses = tuple(
            rec.AppointmentStatusCode(status_id=i, description=d, meaning=rec.AppointmentStatusMeaning(m))
            for i, d, m in pools.APPT_STATUSES
        )
        self.appointment_types = tuple(
            rec.AppointmentType(type_id=i, description=d) for i, d in pools.APPT_TYPES
        )
        self.procedure_codes = tuple(
            rec.ProcedureCode(
                proc_code_id=i,
                ada_code=ada,
                abbrev_description=ab,
                description=desc,
                auto_recall_type_id=recall,
            )
            for i, ada, ab, desc, _fee, _tooth, _surf, recall in pools.PROC_CODES
        )
        self._fees = {row[0]: Decimal(row[4]) for row in pools.PROC_CODES}
        self._proc_rows = pools.PROC_CODES
        self.recall_types = tuple(
            rec.RecallType(recall_type_id=i, name=n, description=d, interval_months=m)
            for i, n, d, m in pools.RECALL_TYPES
        )
        self.employers = tuple(
            rec.Employer(employer_id=str(i + 1), name=name, city="Provo", state="UT", zipcode="84601")
            for i, name in enumerate(pools.EMPLOYERS)
        )
        self.insurance_plans = tuple(
            rec.InsurancePlan(
                plan_id=i,
                carrier_name=carrier,
                group_name=group,
                group_number=number,
                payor_id=payor,
                phone=phone,
                max_coverage_person=Decimal("1500.00"),
                max_coverage_family=Decimal("4500.00"),
                renew_month=1,
            )
            for i, carrier, group, number, payor, phone in pools.INSURANCE_PLANS
        )
        self.referral_sources = tuple(
            rec.ReferralSource(
                referral_id=i,
                referral_type=0 if nonperson else 1,
                last_name=last,
                first_name=first,
                title=title,
                is_non_person=nonperson,
                specialty_id=spec,
                specialty_description=spec_names.get(spec) if spec else None,
                email=None if nonperson else f"{last.lower()}.referrals@example.org",
                phone=None if nonperson else "(801) 555-0177",
            )
            for i, last, first, title, nonperson, spec in pools.REFERRAL_SOURCES
        )
        self.health_items = tuple(
            HealthItem(item_id=i, hh_type=t, description=d, critical=crit)
            for i, t, d, crit in pools.HEALTH_ITEMS
        )
        self.practice_medical_alerts = _code_table("v_practice_medical_alerts", pools.PRACTICE_MEDICAL_ALERTS)
        self.payment_types = _code_table("v_payment_types", pools.PAYMENT_TYPES)
        self.adjustment_types = _code_table("v_adjustment_types", pools.ADJUSTMENT_TYPES)
        self.billing_types = _code_table("v_billing_types", pools.BILLING_TYPES)
        self.document_types = _code_table("v_document_types", pools.DOCUMENT_TYPES)
        self._first = list(pools.FIRST_NAMES_LATIN) + list(pools.FIRST_NAMES_ACCENTED)
        self._last = list(pools.LAST_NAMES_LATIN) + list(pools.LAST_NAMES_ACCENTED)
        if c.non_latin_names:
            self._first += pools.FIRST_NAMES_NON_LATIN
            self._last += pools.LAST_NAMES_NON_LATIN
        else:  # a Windows-1252 export can only hold what the code page has (no Ł, no Cyrillic)
            self._first = [n for n in self._first if _cp1252(n)]
            self._last = [n for n in self._last if _cp1252(n)]
        self._statuses = {s.status_id: s for s in self.appointment_statuses}
        self._types = {t.type_id: t for t in self.appointment_types}
        self._ops = {o.operatory_id: o for o in self.operatories}
        self._codes = {p.proc_code_id: p for p in self.procedure_codes}
        self._recalls = {r.recall_type_id: r for r in self.recall_types}
        self._plans = {p.plan_id: p for p in self.insurance_plans}
        self._providers = {p.provider_id: p for p in self.providers}
        self._employers = {e.employer_id: e for e in self.employers}
        self._referrals = {r.referral_id: r for r in self.referral_sources}
        self._items = {h.item_id: h for h in self.health_items}
        self._alert_defs = {a.def_id: a for a in self.practice_medical_alerts}
        self._payments = {p.def_id: p for p in self.payment_types}
        self._adjustments = {a.def_id: a for a in self.adjustment_types}
        self._doc_types = {d.def_id: d for d in self.document_types}

    # ------------------------------------------------------------------------------------------ patients

    def family_sizes(self) -> Iterator[int]:
        """Family sizes in order; they add up to exactly ``config.patients``."""
        left = self.config.patients
        index = 0
        while left > 0:
            rng = random.Random(f"{self.config.seed}:size:{index}")
            size = rng.choices((1, 2, 3, 4, 5, 6), weights=(35, 20, 18, 17, 7, 3))[0]
            size = min(size, left)
            yield size
            left -= size
            index += 1

    def families(self) -> Iterator[Family]:
        next_id = 1001
        for index, size in enumerate(self.family_sizes()):
            yield self._family(index, next_id, size)
            next_id += size

    def bundles(self) -> Iterator[rec.PatientBundle]:
        for family in self.families():
            yield from family.bundles

    def unattached_appointments(self) -> Iterator[rec.Appointment]:
        """New-patient appointments booked without a Family File record (``patient_id = 0``)."""
        count = int(self.config.patients * self.config.unattached_appointment_rate)
        rng = random.Random(f"{self.config.seed}:unattached")
        for i in range(count):
            yield self._appointment(
                rng,
                appointment_id=str(900_000_000 + i),
                patient_id=None,
                start=self._slot(rng, self.config.today + dt.timedelta(days=rng.randint(1, 60))),
                status_id=rng.choice(("1", "2")),
                type_id="1",
                provider_id="DDS1",
                patient_name=f"{rng.choice(self._last)}, {rng.choice(self._first)}",
            )

    # ----------------------------------------------------------------------------------------- helpers

    def _slot(self, rng: random.Random, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(rng.randint(7, 16), rng.choice((0, 10, 20, 30, 40, 50))))

    def _phone(self, rng: random.Random, area: str) -> str:
        number = f"{area}555{rng.randint(0, 9999):04d}"
        style = rng.random()
        if style < 0.45:
            return f"({number[:3]}) {number[3:6]}-{number[6:]}"
        if style < 0.75:
            return f"{number[:3]}-{number[3:6]}-{number[6:]}"
        if style < 0.85:
            return f"{number[:3]}.{number[3:6]}.{number[6:]}"
        if style < 0.92:
            return number
        if style < 0.97:
            return f"{number[:3]}-{number[3:6]}-{number[6:]} x{rng.randint(10, 999)}"
        return f"{number[3:6]}-{number[6:]}"  # 7 digits, no area code

    def _appointment(
        self,
        rng: random.Random,
        *,
        appointment_id: str,
        patient_id: str | None,
        start: dt.datetime,
        status_id: str,
        type_id: str | None,
        provider_id: str,
        procedures: tuple[rec.AppointmentProcedure, ...] = (),
        patient_name: str | None = None,
        broken: bool = False,
        deleted: bool = False,
    ) -> rec.Appointment:
        status = self._statuses[status_id]
        op = rng.choice(self.operatories if not provider_id.startswith("HYG") else self.operatories[3:])
        return rec.Appointment(
            appointment_id=appointment_id,
            patient_id=patient_id,
            start=start,
            length_min=rng.choice((30, 40, 60, 60, 90)),
            provider_id=provider_id,
            operatory_id=op.operatory_id,
            operatory_title=op.title,
            status_id=status_id,
            status_description=status.description,
            status_meaning=status.meaning,
            type_id=type_id,
            type_description=self._types[type_id].description if type_id else None,
            reason=rng.choice(("Recall", "Exam and cleaning", "Crown seat", "Fillings", "Toothache", None)),
            note=rng.choice((None, None, "Prefers morning appointments.", "Bring insurance card.")),
            patient_name=patient_name,
            broken=broken,
            broken_date=start.date() if broken else None,
            deleted=deleted,
            on_unscheduled_list=broken,
            created_date=(start - dt.timedelta(days=rng.randint(7, 120))).date(),
            modified_at=start - dt.timedelta(days=rng.randint(1, 6), minutes=rng.randint(0, 600)),
            procedures=procedures,
        )

    def _family(self, index: int, first_id: int, size: int) -> Family:
        c = self.config
        rng = random.Random(f"{c.seed}:family:{index}")
        today = c.today
        last = rng.choice(self._last)
        city, state, zipcode, area = rng.choice(pools.PLACES)
        street = f"{rng.randint(10, 9999)} {rng.choice(pools.STREETS)}"
        line2 = rng.choice((None, None, None, "Apt 2B", "Unit 104"))
        home = self._phone(rng, area)
        ids = [str(first_id + k) for k in range(size)]
        guarantor_id = ids[0]
        non_patient_guarantor = size >= 2 and rng.random() < 0.15
        spouse = size >= 2 and rng.random() < 0.6
        domain = rng.choice(pools.EMAIL_DOMAINS)
        local = (
            f"{rng.choice(pools.FIRST_NAMES_LATIN).lower()}.{_ascii(last) or 'family'}{rng.randint(1, 99)}"
        )
        family_email = f"{local}@{domain}" if rng.random() < 0.7 else None
        family_mobile = self._phone(rng, area) if rng.random() < 0.8 else None
        plan_rows = self.insurance_plans
        insured_family = rng.random() < 0.65
        patients: list[rec.Patient] = []
        for k, pid in enumerate(ids):
            adult = k == 0 or (k == 1 and spouse)
            first = rng.choice(self._first)
            gender = rng.choice(
                (rec.Gender.MALE, rec.Gender.FEMALE, rec.Gender.FEMALE, rec.Gender.MALE, None)
            )
            if k == 0 and non_patient_guarantor:
                status = rec.PatientStatus.NON_PATIENT
            else:
                status = rng.choices(
                    (rec.PatientStatus.PATIENT, rec.PatientStatus.INACTIVE, rec.PatientStatus.ARCHIVED),
                    weights=(85, 10, 5),
                )[0]
            if adult:
                birth = dt.date(rng.randint(1940, 1999), rng.randint(1, 12), rng.randint(1, 28))
                email = family_email if k == 0 else (None if rng.random() < 0.5 else family_email)
                mobile = family_mobile if k == 0 else self._phone(rng, area)
            else:
                birth = dt.date(rng.randint(2007, 2022), rng.randint(1, 12), rng.randint(1, 28))
                # Parents' e-mail and mobile are commonly typed on the children's records.
                email = family_email if rng.random() < 0.6 else None
                mobile = family_mobile if rng.random() < 0.5 else None
            visited = status is not rec.PatientStatus.NON_PATIENT
            first_visit = (
                dt.date(rng.randint(2012, 2024), rng.randint(1, 12), rng.randint(1, 28)) if visited else None
            )
            last_visit = None
            if first_visit is not None:
                last_visit = min(today, first_visit + dt.timedelta(days=rng.randint(0, 3000)))
            privacy = rec.PrivacyFlag.NONE
            roll = rng.random()
            if roll < 0.03:
                privacy = rec.PrivacyFlag.NO_VOICE_CALLS
            elif roll < 0.05:
                privacy = rec.PrivacyFlag.NO_CORRESPONDENCE
            elif roll < 0.06:
                privacy = rec.PrivacyFlag.NO_VOICE_CALLS | rec.PrivacyFlag.NO_CORRESPONDENCE
            referred_by_id = None
            referred_by_kind = None
            if visited and rng.random() < 0.4:
                if k == 0 and first_id > 1001 and rng.random() < 0.25:
                    referred_by_id, referred_by_kind = (
                        str(rng.randint(1001, first_id - 1)),
                        rec.ReferrerKind.PATIENT,
                    )
                else:
                    referred_by_id = rng.choice(self.referral_sources).referral_id
                    referred_by_kind = rec.ReferrerKind.REFERRAL_SOURCE
            extra: dict[str, str] = {}
            if rng.random() < 0.3:
                extra["Pref. Hygienist"] = rng.choice(("HYG1", "HYG2", "HYG3"))
            if adult and rng.random() < 0.2:
                extra["Emergency Contact Phone"] = self._phone(rng, area)
            patients.append(
                rec.Patient(
                    patient_id=pid,
                    guarantor_id=guarantor_id,
                    status=status,
                    status_code=status.code,
                    patient_guid=f"{{{random.Random(f'{c.seed}:guid:{pid}').getrandbits(128):032X}}}",
                    chart_number=rng.choice((f"{int(pid):06d}", f"{last[:2].upper()}{pid}", None))
                    if visited
                    else None,
                    last_name=last if rng.random() < 0.95 else rng.choice(self._last),
                    first_name=first,
                    middle_initial=rng.choice((None, None, "A", "J", "M")),
                    preferred_name=rng.choice((None, None, None, first[:3])),
                    gender=gender,
                    birth_date=birth if rng.random() < 0.97 else None,
                    address_line1=street,
                    address_line2=line2,
                    city=city,
                    state=state,
                    zipcode=zipcode,
                    home_phone=home,
                    work_phone=self._phone(rng, area) if adult and rng.random() < 0.3 else None,
                    work_ext=str(rng.randint(100, 999)) if adult and rng.random() < 0.1 else None,
                    mobile_phone=mobile,
                    email=email,
                    primary_provider_id=rng.choice(("DDS1", "DDS1", "DDS2")) if visited else None,
                    secondary_provider_id=rng.choice(("HYG1", "HYG2", "HYG3", None)) if visited else None,
                    first_visit_date=first_visit,
                    last_visit_date=last_visit,
                    missed_appointment_count=rng.choice((0, 0, 0, 1, 2)) if visited else 0,
                    note=rng.choice(
                        (None, None, "Prefers text reminders.", "Anxious patient - offer nitrous.")
                    ),
                    privacy_flags=privacy,
                    employer_id=rng.choice(self.employers).employer_id
                    if adult and rng.random() < 0.4
                    else None,
                    family_position=rec.FamilyPosition.MARRIED
                    if adult and spouse
                    else (rec.FamilyPosition.SINGLE if adult else rec.FamilyPosition.CHILD),
                    is_guarantor=k == 0,
                    is_head_of_house=k == 0,
                    premedication=rng.random() < 0.03,
                    referred_by_id=referred_by_id,
                    referred_by_kind=referred_by_kind,
                    medical_alert_mask1=rng.choice((1, 4, 5, 8)) if rng.random() < 0.05 else 0,
                    medical_alert_mask2=0,
                    modified_at=dt.datetime.combine(today, dt.time())
                    - dt.timedelta(minutes=rng.randint(60, 900_000)),
                    extra=extra,
                )
            )
        # Insurance: the guarantor (or the spouse) subscribes; children are covered as dependants.
        insureds: list[rec.Insured] = []
        if insured_family:
            subscribers = [patients[0]] + ([patients[1]] if spouse and rng.random() < 0.35 else [])
            for n, sub in enumerate(subscribers):
                plan = rng.choice(plan_rows)
                insureds.append(
                    rec.Insured(
                        insured_id=str(int(sub.patient_id) * 10 + n),
                        plan_id=plan.plan_id,
                        subscriber_id=sub.patient_id,
                        member_id=rng.choice(
                            (f"W{rng.randint(10**8, 10**9 - 1)}", f"{rng.randint(0, 10**9 - 1):012d}")
                        ),
                        insurance_type=0,
                        signature_on_file=True,
                    )
                )
        patients = [
            attrs.evolve(
                p,
                primary_dental_insured_id=insureds[0].insured_id if insureds else None,
                secondary_dental_insured_id=insureds[1].insured_id if len(insureds) > 1 else None,
                is_insurance_subscriber=any(i.subscriber_id == p.patient_id for i in insureds),
            )
            for p in patients
        ]
        by_id = {p.patient_id: p for p in patients}
        bundles = [self._bundle(rng, p, by_id, insureds, ids, family_index=index) for p in patients]
        return Family(index=index, guarantor_id=guarantor_id, bundles=tuple(bundles))

    def _coverage(
        self,
        rank: rec.CoverageRank,
        insured: rec.Insured,
        patient: rec.Patient,
        by_id: dict[str, rec.Patient],
    ) -> rec.Coverage:
        subscriber = (
            None if insured.subscriber_id == patient.patient_id else by_id.get(insured.subscriber_id or "")
        )
        return rec.Coverage(
            rank=rank,
            insured=insured,
            plan=self._plans.get(insured.plan_id or ""),
            relationship_code=1
            if subscriber is None
            else (2 if patient.family_position is rec.FamilyPosition.MARRIED else 4),
            subscriber=subscriber,
        )

    def _bundle(
        self,
        rng: random.Random,
        patient: rec.Patient,
        by_id: dict[str, rec.Patient],
        insureds: Sequence[rec.Insured],
        family_ids: Sequence[str],
        *,
        family_index: int,
    ) -> rec.PatientBundle:
        today = self.config.today
        pid = patient.patient_id
        base = int(pid) * _ROWS_PER_PATIENT  # this patient's id block in every per-patient table
        seq = iter(range(base, base + _ROWS_PER_PATIENT))
        status = patient.status
        active = status in (rec.PatientStatus.PATIENT, rec.PatientStatus.INACTIVE, rec.PatientStatus.ARCHIVED)
        child = patient.family_position is rec.FamilyPosition.CHILD
        hygienist = patient.secondary_provider_id or "HYG1"
        dentist = patient.primary_provider_id or "DDS1"
        procedures: list[rec.Procedure] = []
        appointments: list[rec.Appointment] = []
        ledger: list[rec.LedgerTransaction] = []
        if active and patient.first_visit_date is not None:
            visits = rng.randint(1, 5)
            span = max(1, (min(today, patient.last_visit_date or today) - patient.first_visit_date).days)
            for _ in range(visits):
                day = patient.first_visit_date + dt.timedelta(days=rng.randint(0, span))
                provider = rng.choice((dentist, hygienist, "DOC1" if day.year < 2019 else dentist))
                codes = rng.sample(
                    [
                        r
                        for r in self._proc_rows
                        if (r[1] != "D1110" or not child) and (r[1] != "D1120" or child)
                    ],
                    rng.randint(1, 3),
                )
                slots: list[rec.AppointmentProcedure] = []
                for slot_no, row in enumerate(codes, start=1):
                    proc = self._procedure(
                        rng, next(seq), patient, day, row, provider, rec.ProcedureStatus.COMPLETED
                    )
                    procedures.append(proc)
                    ledger.append(self._charge(proc))
                    slots.append(
                        rec.AppointmentProcedure(
                            sequence=slot_no,
                            code_type=1,
                            code_id=proc.procedure_id,
                            ada_code=proc.ada_code,
                            tooth=proc.tooth,
                            surfaces=proc.surfaces,
                            abbrev_description=row[2],
                        )
                    )
                broken = rng.random() < 0.08
                appointments.append(
                    self._appointment(
                        rng,
                        appointment_id=str(next(seq)),
                        patient_id=pid,
                        start=self._slot(rng, day),
                        status_id="6" if broken else rng.choice(("-106", "-106", "150")),
                        type_id=rng.choice(("2", "3", "5", None)),
                        provider_id=provider,
                        procedures=() if broken else tuple(slots),
                        broken=broken,
                        deleted=rng.random() < 0.02,
                    )
                )
                if rng.random() < 0.5:
                    pay_kind = rng.choice(
                        (rec.LedgerEntryType.PATIENT_PAYMENT, rec.LedgerEntryType.INSURANCE_PAYMENT)
                    )
                    type_id = (
                        rng.choice(("1", "2", "3"))
                        if pay_kind is rec.LedgerEntryType.PATIENT_PAYMENT
                        else "4"
                    )
                    ledger.append(
                        rec.LedgerTransaction(
                            transaction_id=str(next(seq)),
                            patient_id=pid,
                            guarantor_id=patient.guarantor_id,
                            date=day + dt.timedelta(days=rng.randint(0, 30)),
                            kind=pay_kind,
                            amount=_money(-rng.randint(20, 300)),
                            type_id=type_id,
                            description=self._payments[type_id].description,
                            provider_id=provider,
                            check_number=str(rng.randint(1000, 9999)) if type_id == "2" else None,
                        )
                    )
        if active and patient.first_visit_date is not None and rng.random() < 0.1:
            adjustment_id = rng.choice(("3", "1", "2"))
            kind = (
                rec.LedgerEntryType.BALANCE_FORWARD
                if adjustment_id == "3"
                else rec.LedgerEntryType.CREDIT_ADJUSTMENT
            )
            ledger.append(
                rec.LedgerTransaction(
                    transaction_id=str(next(seq)),
                    patient_id=pid,
                    guarantor_id=patient.guarantor_id,
                    date=patient.first_visit_date,
                    kind=kind,
                    amount=_money(
                        rng.randint(10, 400) * (1 if kind is rec.LedgerEntryType.BALANCE_FORWARD else -1)
                    ),
                    type_id=adjustment_id,
                    description=self._adjustments[adjustment_id].description,
                    provider_id=dentist,
                )
            )
        if status is rec.PatientStatus.PATIENT:
            for _ in range(rng.choice((0, 1, 1, 2))):
                day = today + dt.timedelta(days=rng.randint(1, 180))
                appointments.append(
                    self._appointment(
                        rng,
                        appointment_id=str(next(seq)),
                        patient_id=pid,
                        start=self._slot(rng, day),
                        status_id=rng.choice(("1", "2", "3")),
                        type_id=rng.choice(("2", "3", "6")),
                        provider_id=rng.choice((dentist, hygienist)),
                        procedures=(
                            rec.AppointmentProcedure(
                                sequence=1,
                                code_type=0,
                                code_id="106",
                                ada_code="D1110",
                                abbrev_description="ProphyAdult",
                            ),
                        )
                        if not child
                        else (),
                    )
                )
        cases: list[rec.TreatmentPlanCase] = []
        if status is rec.PatientStatus.PATIENT and rng.random() < 0.25:
            case_id = str(next(seq))
            planned = [
                attrs.evolve(
                    self._procedure(
                        rng,
                        next(seq),
                        patient,
                        today - dt.timedelta(days=rng.randint(0, 200)),
                        row,
                        dentist,
                        rec.ProcedureStatus.TREATMENT_PLANNED,
                    ),
                    tx_case_id=case_id,
                )
                for row in rng.sample([r for r in self._proc_rows if r[5]], rng.randint(1, 3))
            ]
            procedures.extend(planned)
            status_text = rng.choice(list(rec.TreatmentCaseStatus))
            cases.append(
                rec.TreatmentPlanCase(
                    case_id=case_id,
                    patient_id=pid,
                    status=status_text,
                    status_code=list(rec.TreatmentCaseStatus).index(status_text) + 1,
                    description=rng.choice(("Treatment Plan", "Phase 1", "Crown #3", "Perio therapy")),
                    created_date=min(p.date for p in planned if p.date is not None),
                    priority=rng.choice((1, 2, 3)),
                    is_default=True,
                    procedures=tuple(planned),
                )
            )
        notes: list[rec.ClinicalNote] = []
        if active and patient.first_visit_date is not None:
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                when = dt.datetime.combine(
                    patient.first_visit_date + dt.timedelta(days=rng.randint(0, 2000)),
                    dt.time(rng.randint(8, 17), rng.randint(0, 59)),
                )
                sentences = rng.choices(pools.NOTE_SENTENCES, k=rng.choice((3, 6, 12, 40)))
                text = "\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
                notes.append(
                    rec.ClinicalNote(
                        note_id=str(next(seq)),
                        patient_id=pid,
                        provider_id=rng.choice((dentist, hygienist)),
                        created_at=when,
                        entered_at=when + dt.timedelta(minutes=rng.randint(0, 90)),
                        text=text,
                        locked=rng.random() < 0.7,
                        modified_at=when + dt.timedelta(minutes=rng.randint(0, 90)),
                    )
                )
        recalls: list[rec.Recall] = []
        if status in (rec.PatientStatus.PATIENT, rec.PatientStatus.INACTIVE):
            for type_id in ("1", "2") if rng.random() < 0.6 else ("1",):
                rtype = self._recalls[type_id]
                prior = (patient.last_visit_date or today) - dt.timedelta(days=rng.randint(0, 60))
                due = prior + dt.timedelta(days=30 * (rtype.interval_months or 6) + 1)
                recalls.append(
                    rec.Recall(
                        patient_id=pid,
                        recall_type_id=type_id,
                        type_name=rtype.name,
                        type_description=rtype.description,
                        interval_months=rtype.interval_months,
                        due_date=due,
                        set_date=prior,
                        prior_date=prior,
                        provider_id=hygienist,
                        status=0,
                    )
                )
        documents: list[rec.Document] = []
        if active and rng.random() < 0.3:
            for _ in range(rng.randint(1, 2)):
                doc_id = str(next(seq))
                type_id = rng.choice(("1", "2", "3", "4"))
                hosted = rng.random() < 0.4
                documents.append(
                    rec.Document(
                        document_id=doc_id,
                        patient_id=pid,
                        type_id=type_id,
                        type_description=self._doc_types[type_id].description,
                        description=rng.choice(pools.DOCUMENT_TITLES),
                        created_date=today - dt.timedelta(days=rng.randint(0, 2000)),
                        pages=rng.randint(1, 4),
                        file_path=None if hosted else f"documents/{pid}/{doc_id}.pdf",
                        mime_type="application/pdf",
                        # The export writes this file (synth._documents); hashing it spends no draw.
                        sha256=None if hosted else document_sha256(self.config.seed, doc_id),
                        url=f"https://files.example.com/docs/{doc_id}.pdf" if hosted else None,
                    )
                )
        imaging = tuple(
            rec.ImagingLink(
                patient_id=pid,
                imaging_system="DEXIS",
                image_id=f"{pid}-{n:03d}",
                image_date=today - dt.timedelta(days=rng.randint(0, 2500)),
                modality=rng.choice(pools.MODALITIES),
                tooth=rng.choice((None, str(rng.randint(1, 32)))),
            )
            for n in range(rng.randint(1, 4) if active and rng.random() < 0.4 else 0)
        )
        alerts: list[rec.MedicalAlert] = []
        if active and rng.random() < 0.3:
            for item in rng.sample(self.health_items, rng.randint(1, 3)):
                open_ended = item.hh_type == 3 and rng.random() < 0.5
                alerts.append(
                    rec.MedicalAlert(
                        alert_id=str(next(seq)),
                        patient_id=pid,
                        kind={1: rec.MedicalAlertKind.CONDITION, 3: rec.MedicalAlertKind.MEDICATION}.get(
                            item.hh_type, rec.MedicalAlertKind.ALLERGY
                        ),
                        description=item.description,
                        critical=item.critical,
                        status=1,
                        reported_date=today - dt.timedelta(days=rng.randint(0, 1500)),
                        start_date=today - dt.timedelta(days=rng.randint(1500, 3000)),
                        end_date=None,
                        open_ended=open_ended,
                        note=rng.choice((None, "Confirmed with physician.")),
                    )
                )
        mask = patient.medical_alert_mask1 or 0
        for bit in range(32):
            if mask & (1 << bit):
                def_id = str(bit + 1)
                alerts.append(
                    rec.MedicalAlert(
                        alert_id=def_id,
                        patient_id=pid,
                        kind=rec.MedicalAlertKind.MEDICAL_ALERT,
                        description=self._alert_defs[def_id].description
                        if def_id in self._alert_defs
                        else None,
                    )
                )
        if active and rng.random() < 0.05:
            alerts.append(
                rec.MedicalAlert(
                    alert_id=str(next(seq)),
                    patient_id=pid,
                    kind=rec.MedicalAlertKind.PATIENT_ALERT,
                    description=rng.choice(("Collect copay", "Needs premed", "Speaks Spanish")),
                    start_date=today - dt.timedelta(days=rng.randint(0, 400)),
                )
            )
        journal: list[rec.OfficeJournalEntry] = []
        for _ in range(rng.choice((0, 0, 1, 2, 3)) if active else 0):
            journal_kind = rng.choice(list(pools.JOURNAL_TITLES))
            journal.append(
                rec.OfficeJournalEntry(
                    contact_id=str(next(seq)),
                    patient_id=pid,
                    contacted_at=dt.datetime.combine(
                        today - dt.timedelta(days=rng.randint(0, 1500)),
                        dt.time(rng.randint(8, 17), rng.randint(0, 59)),
                    ),
                    kind=rec.JournalEntryKind(journal_kind),
                    contact_type_code={"call": 3, "letter": 1, "email": 4, "text": 5, "appointment": 2}[
                        journal_kind
                    ],
                    provider_id=rng.choice((dentist, None)),
                    title=rng.choice(pools.JOURNAL_TITLES[journal_kind]),
                    text=rng.choice((None, "Spoke with patient; will call back.", "No answer.")),
                )
            )
        referrals: list[rec.ReferralActivity] = []
        referred_by = None
        if patient.referred_by_id is not None and patient.referred_by_kind is not None:
            source = (
                self._referrals.get(patient.referred_by_id)
                if patient.referred_by_kind is rec.ReferrerKind.REFERRAL_SOURCE
                else None
            )
            referred_by = rec.ReferredBy(
                kind=patient.referred_by_kind, referrer_id=patient.referred_by_id, source=source
            )
            if source is not None:
                referrals.append(
                    rec.ReferralActivity(
                        referral_id=source.referral_id,
                        patient_id=pid,
                        date=patient.first_visit_date,
                        activity_id=str(next(seq)),
                        activity_type=0,
                        referred_by_kind=rec.ReferrerKind.REFERRAL_SOURCE,
                        source=source,
                    )
                )
        balance = self._family_balance(family_index, patient.guarantor_id or pid)
        coverage = rec.PatientInsurance(
            primary=self._coverage(rec.CoverageRank.PRIMARY, insureds[0], patient, by_id)
            if insureds
            else None,
            secondary=self._coverage(rec.CoverageRank.SECONDARY, insureds[1], patient, by_id)
            if len(insureds) > 1
            else None,
        )
        guarantor = None
        if patient.guarantor_id is not None and patient.guarantor_id != pid:
            guarantor = by_id.get(patient.guarantor_id)
        bundle = rec.PatientBundle(
            patient=patient,
            practice_timezone=self.config.timezone,
            guarantor=guarantor,
            family_member_ids=tuple(family_ids),
            primary_provider=self._providers.get(patient.primary_provider_id or ""),
            secondary_provider=self._providers.get(patient.secondary_provider_id or ""),
            employer=self._employers.get(patient.employer_id or ""),
            appointments=tuple(appointments),
            insurance=coverage,
            procedures=tuple(procedures),
            clinical_notes=tuple(notes),
            treatment_cases=tuple(cases),
            recalls=tuple(recalls),
            documents=tuple(documents),
            imaging=imaging,
            ledger=tuple(ledger),
            guarantor_balance=balance,
            referred_by=referred_by,
            referrals=tuple(referrals),
            medical_alerts=tuple(alerts),
            journal=tuple(journal),
        )
        return canonical_bundle(bundle)

    def _family_balance(self, family_index: int, guarantor_id: str) -> rec.GuarantorBalance:
        """The guarantor's balance, regenerated from its own seed (balances are per guarantor)."""
        brng = random.Random(f"{self.config.seed}:balance:{family_index}")
        today = self.config.today
        owing = brng.random() < 0.3
        return rec.GuarantorBalance(
            guarantor_id=guarantor_id,
            balance_0_30=_money(brng.randint(0, 400)) if owing else Decimal("0.00"),
            balance_31_60=_money(brng.choice((0, 0, 85, 120))) if owing else Decimal("0.00"),
            balance_61_90=_money(brng.choice((0, 0, 0, 60))) if owing else Decimal("0.00"),
            balance_91_plus=_money(brng.choice((0, 0, 0, 0, 240))) if owing else Decimal("0.00"),
            last_payment_date=today - dt.timedelta(days=brng.randint(1, 400)),
            last_payment_amount=_money(brng.randint(20, 300)),
            billing_type_description=brng.choice(("Standard Billing", "Standard Billing", "No Statements")),
        )

    def _procedure(
        self,
        rng: random.Random,
        procedure_id: int,
        patient: rec.Patient,
        day: dt.date,
        row: tuple[str, str, str, str, str, bool, bool, str | None],
        provider: str,
        status: rec.ProcedureStatus,
    ) -> rec.Procedure:
        code_id, ada, _abbrev, description, fee, needs_tooth, surfaces, _recall = row
        tooth = None
        if needs_tooth:
            child = patient.family_position is rec.FamilyPosition.CHILD
            tooth = (
                rng.choice(("A", "B", "J", "K", "T", "AS"))
                if child and rng.random() < 0.5
                else str(rng.choice((2, 3, 14, 15, 18, 19, 30, 31, 8, 62)))
            )
        surf = None
        if surfaces:
            surf = rng.choice(("O", "MO", "DO", "MOD", "F", "L", "MODL", "5"))
        completed = status is rec.ProcedureStatus.COMPLETED
        return rec.Procedure(
            procedure_id=str(procedure_id),
            patient_id=patient.patient_id,
            guarantor_id=patient.guarantor_id,
            date=day,
            proc_code_id=code_id,
            ada_code=ada,
            description=description,
            tooth=tooth,
            surfaces=surf,
            status=status,
            chart_status_code=102 if completed else 105,
            proc_log_class=0,
            provider_id=provider,
            amount=Decimal(fee),
            created_date=day,
            completion_date=day if completed else None,
            modified_at=dt.datetime.combine(day, dt.time(17, 5)),
        )

    def _charge(self, proc: rec.Procedure) -> rec.LedgerTransaction:
        return rec.LedgerTransaction(
            transaction_id=proc.procedure_id,
            patient_id=proc.patient_id,
            guarantor_id=proc.guarantor_id,
            date=proc.date,
            kind=rec.LedgerEntryType.PROCEDURE,
            amount=proc.amount,
            description=proc.description,
            provider_id=proc.provider_id,
        )
