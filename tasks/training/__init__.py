"""Fine-tuning: collect -> validate -> split -> train -> evaluate -> register -> deploy (A/B).

Plain, Prefect-free functions; ``flows/fine_tune.py`` wires them as tasks and the CLI runs the same
pipeline in-process (``tasks.training.pipeline``).
"""
