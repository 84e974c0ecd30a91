"""The writers: one module per HighLevel object the migration writes, each with its create, update,
lookup of an interrupted create, read-back and undo."""
