"""Admin mapping files (data) and the pure code that applies them.

A mapping says which CRM field holds which domain value; `load_mapping` validates a YAML
file (errors name file, line and key), `inbound`/`outbound` translate records both ways.
The default mappings ship beside this file (`salesforce.yaml`).
"""

from pathlib import Path

from presales_sync.mappings.apply import (
    ValueError_,
    canonical,
    inbound,
    inbound_types,
    observed,
    outbound,
    read_fields,
    typed,
)
from presales_sync.mappings.load import FileProblems, Problem, line_of, load_model, read_yaml
from presales_sync.mappings.model import FieldMap, Mapping, ObjectMap

DEFAULTS_DIR = Path(__file__).parent


def load_mapping(path: Path) -> Mapping:
    """Load and validate a mapping file."""
    return load_model(path, Mapping)


def default_mapping_path(crm: str) -> Path:
    return DEFAULTS_DIR / f"{crm}.yaml"


__all__ = [
    "DEFAULTS_DIR",
    "FieldMap",
    "FileProblems",
    "Mapping",
    "ObjectMap",
    "Problem",
    "ValueError_",
    "canonical",
    "default_mapping_path",
    "inbound",
    "inbound_types",
    "line_of",
    "load_mapping",
    "load_model",
    "observed",
    "outbound",
    "read_fields",
    "read_yaml",
    "typed",
]
