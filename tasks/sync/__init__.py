"""Sync the registry into the registries teams already run (MLflow, SageMaker Model Registry)."""
