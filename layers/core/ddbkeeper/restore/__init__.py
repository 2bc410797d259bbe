"""The restore workflow: a new table from a backup, a point in time or an S3 export, then the settings it dropped."""
