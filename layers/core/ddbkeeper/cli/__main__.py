from ddbkeeper.cli import entry

entry()
