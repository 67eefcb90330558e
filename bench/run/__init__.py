"""Running cells: the method contract and registry, the runner, the results store, launchers (local,
Slurm), cell status, named suites, provenance and memory peaks, and the regression check."""
