"""The scheduled audit: every table's protection judged (ddbkeeper.coverage), metrics per verdict, an alarm when a
table tagged for protection is at risk (statemachines/audit.asl.json)."""
