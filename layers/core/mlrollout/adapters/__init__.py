"""boto3-backed ports, one module per AWS concern. Each adapter takes its client; factories build them."""
