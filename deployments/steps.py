"""Deploy-time steps named in prefect.yaml (``build:``), run by ``prefect deploy`` on the deploying machine.

``project_settings`` fills in what every worker needs to run our flows: the project directory (the
pull step's working directory) and the registry, cache and log URIs (job variables), so that every
worker of a pool serves the same registry whatever its own ``MODELCTL_*`` environment says.
"""

from __future__ import annotations

from pathlib import Path

from registry.errors import InvalidInput
from registry.settings import get_settings


def _absolute(uri: str, base: Path) -> str:
    """A local path made absolute against ``base``; URIs with a scheme unchanged."""
    if "://" in uri:
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def project_settings() -> dict[str, str]:
    """Outputs for prefect.yaml templates: ``project_dir``, ``registry``, ``cache``, ``log``, ``version``.

    Raises:
        InvalidInput: MODELCTL_PROJECT_DIR is unset or does not hold this project's ``flows/``.
    """
    from modelctl import __version__

    settings = get_settings()
    if not settings.project_dir:
        raise InvalidInput("MODELCTL_PROJECT_DIR is not set: workers would not find the flows. "
                           "Run `make serve` (or `modelctl serve`), which fills it in, or "
                           "`MODELCTL_PROJECT_DIR=$PWD prefect deploy --all` from the project directory",
                           field="MODELCTL_PROJECT_DIR")
    project = Path(settings.project_dir).expanduser().resolve()
    if not (project / "flows").is_dir():
        raise InvalidInput(f"MODELCTL_PROJECT_DIR={settings.project_dir!r} has no flows/ folder: "
                           "point it at the modelctl project directory", field="MODELCTL_PROJECT_DIR")
    return {"project_dir": str(project), "registry": _absolute(settings.registry, project),
            "cache": _absolute(settings.cache, project), "log": _absolute(settings.log, project),
            "version": __version__}
