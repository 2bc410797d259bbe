"""The restore drill: restore each selected table's newest recovery point into a scratch table the drill tags as its
own, verify it, measure RTO and RPO, and always delete the scratch table (statemachines/drill.asl.json)."""
