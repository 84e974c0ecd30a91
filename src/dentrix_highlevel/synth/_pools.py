"""Value pools for synthetic practices: invented names, places, codes. Nothing here is a real person.

Phone numbers use the 555 exchange, e-mails the reserved ``example.*`` domains. Names mix plain, accented and
non-Latin spellings; the non-Latin ones are left out when the export must be Windows-1252.
"""

from __future__ import annotations

from decimal import Decimal


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES_LATIN = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan "
    "Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark "
    "Sandra Steven "
    "Ashley Paul Emily Andrew Donna Joshua Michelle Kevin Carol Brian Amanda Emma Olivia Noah "
    "Liam Ava Mia "
    "Ethan Harper Lucas Ella Mason Aria Logan Chloe Owen Grace Wyatt Zoey Caleb Nora Hunter Lily"
)
FIRST_NAMES_ACCENTED = (
    "José",
    "Zoë",
    "Chloé",
    "François",
    "Björn",
    "Renée",
    "Inés",
    "Jürgen",
    "Añaya",
    "Raúl",
    "Søren",
    "Noémie",
)
FIRST_NAMES_NON_LATIN = ("李娜", "王芳", "Дмитрий", "Ольга", "محمد", "Νίκος", "さくら", "민준")
LAST_NAMES_LATIN = (
    *_words(
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
        "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
        "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams"
    ),
    "McDonald",
    "O'Neil",
    "van der Berg",
    "St. John",
    "Smith-Jones",
)
LAST_NAMES_ACCENTED = (
    "Muñoz",
    "Ibáñez",
    "Öztürk",
    "Łukasik",
    "Gómez",
    "Peña",
    "Müller",
    "Brontë",
    "Fernández",
)
LAST_NAMES_NON_LATIN = ("王", "Иванов", "حداد", "Παπαδόπουλος", "佐藤", "김")

STREETS = (
    "Main St",
    "Center St",
    "Oak Ave",
    "Maple Dr",
    "Canyon Rd",
    "University Ave",
    "State St",
    "Pine Ln",
    "Cedar Ct",
    "Sunset Blvd",
    "Lakeview Dr",
    "Ridge Rd",
)
# (city, state, zip, area code): some ZIPs start with 0 on purpose.
PLACES = (
    ("Provo", "UT", "84601", "801"),
    ("Orem", "UT", "84057", "801"),
    ("Denver", "CO", "80202", "303"),
    ("Boulder", "CO", "80301", "720"),
    ("Boston", "MA", "02134", "617"),
    ("Hoboken", "NJ", "07030", "201"),
    ("New Haven", "CT", "06510", "203"),
    ("Portland", "ME", "04101", "207"),
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

# (provider_id, last, first, title, kind, specialty)
PROVIDERS = (
    ("DDS1", "Whitfield", "Aaron", "DDS", "dentist", "General Dentistry"),
    ("DDS2", "Okafor", "Grace", "DMD", "dentist", "General Dentistry"),
    ("DDS3", "Lindqvist", "Henrik", "DDS", "dentist", "Endodontics"),
    ("HYG1", "Barnes", "Tara", "RDH", "hygienist", None),
    ("HYG2", "Quintero", "Luz", "RDH", "hygienist", None),
    ("HYG3", "Patel", "Nina", "RDH", "hygienist", None),
)
SPECIALTIES = (("1", "General Dentistry"), ("2", "Endodontics"), ("3", "Orthodontics"), ("4", "Oral Surgery"))
OPERATORIES = (("01", "Op 1"), ("02", "Op 2"), ("03", "Op 3"), ("HY1", "Hygiene 1"), ("HY2", "Hygiene 2"))
# (defid, description, meaning)
APPT_STATUSES = (
    ("-106", "Complete", "complete"),
    ("150", "Checked Out", "complete"),
    ("1", "Unconfirmed", "unconfirmed"),
    ("2", "Confirmed", "confirmed"),
    ("3", "Left Message", "left_message"),
    ("4", "Here", "arrived"),
    ("5", "Chair", "seated"),
    ("6", "Broken", "broken"),
    ("7", "Wait/Will Call", "other"),
)
APPT_TYPES = (
    ("1", "New Patient Exam"),
    ("2", "Recall/Prophy"),
    ("3", "Restorative"),
    ("4", "Emergency"),
    ("5", "Perio Maintenance"),
    ("6", "Crown Prep"),
)
# CDT code → its description
_PROC_DESCRIPTIONS = {
    "D0120": "Periodic oral evaluation - established patient",
    "D0150": "Comprehensive oral evaluation - new or established patient",
    "D0210": "Intraoral - complete series of radiographic images",
    "D0274": "Bitewings - four radiographic images",
    "D0330": "Panoramic radiographic image",
    "D1110": "Prophylaxis - adult",
    "D1120": "Prophylaxis - child",
    "D1206": "Topical application of fluoride varnish",
    "D1351": "Sealant - per tooth",
    "D2140": "Amalgam - one surface, primary or permanent",
    "D2391": "Resin-based composite - one surface, posterior",
    "D2392": "Resin-based composite - two surfaces, posterior",
    "D2740": "Crown - porcelain/ceramic",
    "D2950": "Core buildup, including any pins when required",
    "D3330": "Endodontic therapy, molar tooth (excluding final restoration)",
    "D4341": "Periodontal scaling and root planing - four or more teeth per quadrant",
    "D4910": "Periodontal maintenance",
    "D7140": "Extraction, erupted tooth or exposed root",
    "D7210": "Extraction, erupted tooth requiring removal of bone",
    "D9110": "Palliative treatment of dental pain - per visit",
}
# (proccodeid, CDT, abbrev, fee, needs tooth, surfaces allowed, recall type); the description is looked up
_PROC_ROWS = (
    ("101", "D0120", "PerOralEval", "58.00", False, False, None),
    ("102", "D0150", "CompOralEva", "95.00", False, False, None),
    ("103", "D0210", "FMX", "135.00", False, False, "3"),
    ("104", "D0274", "BWX4", "68.00", False, False, "2"),
    ("105", "D0330", "Pano", "115.00", False, False, "5"),
    ("106", "D1110", "ProphyAdult", "98.00", False, False, "1"),
    ("107", "D1120", "ProphyChild", "72.00", False, False, "1"),
    ("108", "D1206", "FluorVarn", "38.00", False, False, None),
    ("109", "D1351", "Sealant", "52.00", True, False, None),
    ("110", "D2140", "Amalg1", "135.00", True, True, None),
    ("111", "D2391", "Resin1Post", "165.00", True, True, None),
    ("112", "D2392", "Resin2Post", "215.00", True, True, None),
    ("113", "D2740", "CrnPorc", "1245.00", True, False, None),
    ("114", "D2950", "CoreBU", "285.00", True, False, None),
    ("115", "D3330", "EndoMolar", "1150.00", True, False, None),
    ("116", "D4341", "SRP4+", "245.00", False, False, "4"),
    ("117", "D4910", "PerioMaint", "145.00", False, False, "4"),
    ("118", "D7140", "ExtErupted", "185.00", True, False, None),
    ("119", "D7210", "ExtSurg", "325.00", True, False, None),
    ("120", "D9110", "Palliative", "95.00", False, False, None),
)
# (proccodeid, CDT, abbrev, description, fee, needs tooth, surfaces allowed, recall type)
PROC_CODES = tuple(
    (i, cdt, abbrev, _PROC_DESCRIPTIONS[cdt], fee, tooth, surfaces, recall)
    for i, cdt, abbrev, fee, tooth, surfaces, recall in _PROC_ROWS
)
# (recallid, name, description, interval months)
RECALL_TYPES = (
    ("1", "PROPHY", "Prophylaxis 6 months", 6),
    ("2", "BWX", "Bitewings yearly", 12),
    ("3", "FMX", "Full mouth x-rays", 36),
    ("4", "PERIO", "Perio maintenance", 4),
    ("5", "PANO", "Panorex", 36),
)
# (ins_id, carrier, group name, group number, payor id, phone)
INSURANCE_PLANS = (
    ("1", "Delta Dental of Utah", "State Employees", "G0012345", "CDUT1", "800-555-0110"),
    ("2", "Cigna Dental PPO", "Acme Manufacturing", "0003317", "62308", "800-555-0111"),
    ("3", "MetLife PDP Plus", "Riverside School District", "0145522", "65978", "800-555-0112"),
    ("4", "Aetna Dental PPO", "Summit Health Partners", "086412-01", "60054", "800-555-0113"),
    ("5", "Guardian DentalGuard Preferred", "Blue Peak Software", "00512984", "64246", "800-555-0114"),
    ("6", "United Concordia", "US Army Reserve", "TRDP-0001", "CX014", "800-555-0115"),
    ("7", "Humana Dental", "Valley Credit Union", "00H4471", "73288", "800-555-0116"),
)
EMPLOYERS = (
    "Acme Manufacturing",
    "Riverside School District",
    "Summit Health Partners",
    "Blue Peak Software",
    "Valley Credit Union",
    "City of Provo",
    "Canyon Logistics",
    "Wasatch Hospital",
    "Self-employed",
)
# (refid, lastname, firstname, title, non-person, specialty)
REFERRAL_SOURCES = (
    ("1", "Google", None, None, True, None),
    ("2", "Yelp", None, None, True, None),
    ("3", "Friend/Family", None, None, True, None),
    ("4", "Insurance Directory", None, None, True, None),
    ("5", "Hargrove", "Ellen", "DDS", False, "3"),
    ("6", "Nakamura", "Ken", "DMD", False, "4"),
)
# (itemid, hhtype, description, critical)  hhtype: 1 condition, 3 medication, 2 allergy
HEALTH_ITEMS = (
    ("1", 2, "Penicillin allergy", True),
    ("2", 2, "Latex allergy", True),
    ("3", 1, "Diabetes type 2", False),
    ("4", 1, "Hypertension", False),
    ("5", 1, "Artificial joint - premedicate", True),
    ("6", 3, "Warfarin", True),
    ("7", 3, "Lisinopril", False),
    ("8", 1, "Asthma", False),
)
PRACTICE_MEDICAL_ALERTS = (
    ("1", "Heart condition"),
    ("2", "Bleeding disorder"),
    ("3", "Pregnant"),
    ("4", "Smoker"),
)
PAYMENT_TYPES = (("1", "Cash"), ("2", "Check"), ("3", "Credit Card"), ("4", "Dental Insurance Payment"))
ADJUSTMENT_TYPES = (
    ("1", "Professional Courtesy"),
    ("2", "Insurance Write-off"),
    ("3", "Balance Forward"),
    ("4", "Finance Charge"),
)
BILLING_TYPES = (("1", "Standard Billing"), ("2", "No Statements"), ("3", "Collections"))
DOCUMENT_TYPES = (
    ("1", "Consent Forms"),
    ("2", "Insurance Cards"),
    ("3", "Referral Letters"),
    ("4", "Lab Reports"),
)
STAFF = (("S001", "Reyes", "Monica", "Office Manager"), ("S002", "Cho", "Daniel", "Front Desk"))

NOTE_SENTENCES = (
    "Patient presents for periodic evaluation; no complaints reported.",
    "Reviewed medical history, no changes since last visit.",
    "Blood pressure taken and within normal limits.",
    "Topical anesthetic applied; 1 carpule 2% lidocaine with 1:100,000 epi administered via infiltration.",
    "Moderate generalized plaque and light calculus; scaled and polished, flossed all contacts.",
    "Oral cancer screening negative; soft tissue within normal limits.",
    "Discussed treatment options with risks, benefits and alternatives; patient verbalised understanding.",
    "Caries noted on radiographs; recommended restoration at next visit.",
    "Patient tolerated procedure well and was dismissed in good condition.",
    "Post-operative instructions given verbally and in writing.",
    "Home care reviewed: brushing twice daily with fluoride toothpaste and daily flossing.",
    "Occlusion checked and adjusted; patient reports comfortable bite.",
    "Next visit: continue treatment plan as discussed.",
)
JOURNAL_TITLES = {
    "call": (
        "Called to confirm appointment",
        "Returned patient call re: billing",
        "Left voicemail re: recall",
    ),
    "letter": ("Recall letter sent", "Past due statement letter", "Welcome letter"),
    "email": ("Appointment reminder e-mail", "Treatment plan e-mailed", "Insurance update request"),
    "text": ("Appointment reminder text", "Confirmation text reply"),
    "appointment": ("Appointment broken", "Appointment scheduled"),
}
DOCUMENT_TITLES = (
    "Consent for treatment",
    "Insurance card front/back",
    "Referral letter",
    "Lab report",
    "HIPAA acknowledgement",
)
MODALITIES = ("BW", "PA", "FMX", "PANO", "PHOTO", "CBCT")

ZERO = Decimal("0.00")
