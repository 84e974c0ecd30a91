"""The migration's durable state: the ledger interface and its SQLite and PostgreSQL stores, the audit
log, the reconciliation of counts, and what the location itself records (owner, setup)."""
