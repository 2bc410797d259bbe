"""The backup workflow: scheduled on-demand backups of the tables named or selected, and retention on them."""
