"""The engine: one run's context and policies, setup, the writers (one per HighLevel object), the sample's
read-back diff, rollback, and the progress events it reports."""
