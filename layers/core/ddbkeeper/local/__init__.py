"""The embedded local runtime: the real state machines on moto's Step Functions interpreter, handlers bound in-process.

Needs the `local` extra (moto, PyYAML, rich); nothing here is imported by the Lambda handlers.
"""
