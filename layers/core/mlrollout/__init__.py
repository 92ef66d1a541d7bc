"""mlrollout's runtime library: the domain, the AWS adapters and the use cases the Lambda handlers call."""

__version__ = "0.1.0"
