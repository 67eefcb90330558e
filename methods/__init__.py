"""Method families, one module each; every module here is imported by `bench.run.registry.available()`."""
