"""Language models: resolution and loading (models), the one-forward Yes/No scorer, the test model,
item-text encoders, and the OpenAI-compatible server with its response cache."""
