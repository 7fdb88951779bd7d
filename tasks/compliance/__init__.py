"""The seed's compliance checklist, model by model: pure checks over the registry state (``checks``), the
state read without writing anything (``state``), and the markdown report (``report``)."""
