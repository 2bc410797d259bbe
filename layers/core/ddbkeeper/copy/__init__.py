"""The copy workflow: a table to another account or region, segment by segment, checkpointed, verified."""
