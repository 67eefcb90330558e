"""Method families, one module each: plugins behind the contract of bench.run.registry, registered
through the `bench.methods` entry points in pyproject.toml exactly as a third-party package's are."""
