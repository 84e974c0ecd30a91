"""The plan stage: what the export holds (the Data Availability Report), the field-mapping plan, the
request estimate, the preflight against the sub-account, the scopes it needs, and the approval."""
