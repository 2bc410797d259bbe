"""ddbkeeper: the core library behind the Lambda handlers, the CLI and the tests.

The core knows nothing of Lambda: it takes boto3 clients (through a session factory) and plain data, and returns
plain data.
"""

__version__ = "0.1.0"
