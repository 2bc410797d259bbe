"""The export workflow: point-in-time exports of a table to S3, FULL or INCREMENTAL, chained through a ledger."""
