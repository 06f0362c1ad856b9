"""The config file (`presales.yaml`) and the roster, validated with file/line/key errors.

Secrets never live here: they come from the environment (see ARCHITECTURE.md)."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from presales_sync.mappings import (
    FileProblems,
    Mapping,
    Problem,
    default_mapping_path,
    inbound_types,
    line_of,
    load_mapping,
    load_model,
)
from presales_sync.mappings.load import env_limit, int_text
from presales_sync.rules import (
    BusinessCalendar,
    CompiledRules,
    Engineer,
    KpiSettings,
    Level,
    RulesProblems,
    RulesSettings,
    WeekendCalendar,
    compile_rules,
)
from presales_sync.rules.expressions import LIMIT_VARIABLES, ExpressionLimits
from presales_sync.sync.config_secrets import refuse_secrets

DEFAULT_CONFIG = Path("presales.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(_Strict):
    """Salesforce login. `login_url` is where the token is asked for (login, test or the
    org's My Domain); `audience` overrides the JWT ``aud``, which by default is
    https://login.salesforce.com (https://test.salesforce.com for a sandbox) whatever the
    login URL, as Salesforce expects."""

    method: Literal["jwt", "session"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    audience: str | None = None


class CrmConfig(_Strict):
    """Where the CRM is. `kind` decides which keys apply: Salesforce needs `instance_url`
    (and takes `api_version`, `auth`); Zoho takes `data_center` (com, eu, in, com.au, jp,
    com.cn, ca, sa; default com), optional `accounts_url` / `api_domain` overrides and
    `token_cache` (where the access token is kept between runs, mode 0600)."""

    kind: Literal["salesforce", "zoho"] = "salesforce"
    instance_url: str | None = Field(default=None, validate_default=True)
    api_version: str = "66.0"
    auth: AuthConfig = Field(default_factory=AuthConfig)
    data_center: str | None = None
    accounts_url: str | None = None
    api_domain: str | None = None
    token_cache: str | None = None
    daily_credits: int | None = Field(default=None, gt=0)
    ca_bundle: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("instance_url")
    @classmethod
    def _https(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if v is None:
            if kind == "salesforce":
                raise ValueError("required for a Salesforce org (e.g. https://acme.my.salesforce.com)")
            return v
        if kind == "zoho":
            raise ValueError("not used by Zoho: set data_center (accounts_url / api_domain override it)")
        if not v.startswith("https://"):
            raise ValueError("must be an https:// URL (TLS is always verified)")
        return v.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d{2}\.0", v):
            raise ValueError("expected a version such as \"66.0\" (no leading v)")
        return v

    @field_validator("data_center", "accounts_url", "api_domain", "token_cache")
    @classmethod
    def _zoho_only(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if info.data.get("kind") != "zoho":
            raise ValueError("only for kind: zoho")
        if info.field_name == "data_center":
            from presales_sync.connector.zoho.settings import DATA_CENTERS, DC_ALIASES

            if v.lower() not in DATA_CENTERS and v.lower() not in DC_ALIASES:
                raise ValueError(f"unknown data centre; expected one of: {', '.join(DATA_CENTERS)}")
        elif info.field_name != "token_cache" and not v.startswith("https://"):
            raise ValueError("must be an https:// URL (TLS is always verified)")
        return v

    @model_validator(mode="after")
    def _salesforce_only(self) -> CrmConfig:
        extra = sorted({"api_version", "auth"} & self.model_fields_set)
        if self.kind == "zoho" and extra:
            raise ValueError(f"{', '.join(extra)}: only for kind: salesforce")
        if self.kind == "salesforce" and self.daily_credits is not None:
            raise ValueError("daily_credits: only for kind: zoho (Salesforce reports its allowance)")
        return self


class ApiBudget(_Strict):
    """How much of the org's daily API allowance a run may use: it stops (exit 1, the next
    run resumes) before the org's usage passes `max_share_total` of the allowance or this run
    alone spends `max_share_per_run` of it."""

    max_share_total: float = Field(default=0.8, gt=0, le=1)
    max_share_per_run: float = Field(default=0.25, gt=0, le=1)


class SyncConfig(_Strict):
    lookback_seconds: int = Field(default=300, ge=0)
    page_size: int = Field(default=2000, ge=200, le=2000)
    bulk_write_threshold: int = Field(default=2000, ge=0)
    bulk_read_threshold: int = Field(default=10_000, ge=0)
    api_budget: ApiBudget = Field(default_factory=ApiBudget)


class CalendarConfig(_Strict):
    """The company's working calendar: `country` is a `holidays` code (CN, US, DE, ...) or
    `weekends` (Monday to Friday, no holidays)."""

    country: str = "weekends"
    subdivision: str | None = None
    extra_holidays: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)
    work_start: time = time.fromisoformat("09:00")
    work_end: time = time.fromisoformat("18:00")

    @model_validator(mode="after")
    def _known(self) -> CalendarConfig:
        self.build(None)  # unknown country / subdivision, overlapping days, hours out of order
        return self

    def build(self, tz: ZoneInfo | None) -> WeekendCalendar:
        holidays, working = frozenset(self.extra_holidays), frozenset(self.extra_working_days)
        if self.country.lower() == "weekends":
            if self.subdivision:
                raise ValueError("a subdivision needs a country (e.g. country: US, subdivision: CA)")
            return WeekendCalendar(extra_holidays=holidays, extra_working_days=working,
                                   work_start=self.work_start, work_end=self.work_end, tz=tz)
        return BusinessCalendar(self.country, self.subdivision, extra_holidays=holidays,
                                extra_working_days=working, work_start=self.work_start,
                                work_end=self.work_end, tz=tz)


class ReportConfig(_Strict):
    """`presales report`: the language of its labels."""

    language: Literal["zh", "en"] = "zh"


class Config(_Strict):
    crm: CrmConfig
    store: str = "sqlite:///presales.db"
    mapping: str | None = None
    rules: str | None = None
    kpi: str | None = None             # KPI scorecard settings (default rules/kpi.yaml)
    report: ReportConfig = Field(default_factory=lambda: ReportConfig())
    roster: str = "engineers.yaml"
    timezone: str = "Asia/Shanghai"
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)

    @field_validator("calendar", mode="before")
    @classmethod
    def _calendar_shorthand(cls, v: object) -> object:
        return {"country": v} if isinstance(v, str) else v
    profile: str = "default"
    sync: SyncConfig = Field(default_factory=SyncConfig)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}' (use an IANA name such as Asia/Shanghai)") from None
        return v


def _id_text(value: object) -> object:
    """A CRM id written unquoted is read as its digits (YAML makes `4150868000000225013` an
    int; Zoho ids are all digits). A float or a boolean has lost the id: refused."""
    if isinstance(value, bool):
        raise ValueError("a CRM id, not true/false: write the id in quotes")
    if isinstance(value, int):
        text = int_text(value)
        if not text.isdigit():
            raise ValueError("a CRM id is letters and digits only: write the id in quotes")
        return text
    if isinstance(value, float):
        raise ValueError("a number with a decimal point or an exponent cannot hold a CRM id exactly: "
                         "write the id in quotes, e.g. \"4150868000000225013\"")
    return value


#: A CRM record id (user, manager): text, or digits written as a YAML number.
CrmId = Annotated[str, BeforeValidator(_id_text)]


class _RosterEntry(_Strict):
    crm_user_id: CrmId
    name: str
    level: Level = Level.JUNIOR
    reviewer: bool = False
    skills: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)
    capacity: int = Field(default=5, ge=0)
    active: bool = True
    manager: CrmId | None = None


class Roster(_Strict):
    engineers: list[_RosterEntry]
    managers: list[CrmId] = Field(default_factory=list)


class Loaded(BaseModel):
    """Everything a run needs from files, resolved relative to the config file."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    path: Path
    config: Config
    mapping: Mapping
    rules: RulesSettings
    engineers: dict[str, Engineer]
    managers: frozenset[str]
    kpi: KpiSettings = Field(default_factory=KpiSettings)
    #: The mapping file in use (the shipped default when the config names none).
    mapping_path: Path | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def calendar(self) -> WeekendCalendar:
        """The company's working calendar in its time zone (validated at load)."""
        return self.config.calendar.build(self.tz)

    def compiled_rules(self, today: date) -> CompiledRules:
        """The rules' expressions bound to `today` and the calendar (checked at load)."""
        return compile_rules(self.rules, fields=inbound_types(self.mapping.opportunity), today=today,
                             calendar=self.calendar(), limits=expression_limits())


def resolve(loaded: Loaded, value: str) -> Path:
    """A path from the config file, relative to the config file's directory."""
    return _resolve(loaded.path.parent, value)


def _resolve(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def load_roster(path: Path) -> tuple[dict[str, Engineer], frozenset[str]]:
    roster = load_model(path, Roster)
    engineers: dict[str, Engineer] = {}
    for i, e in enumerate(roster.engineers):
        if e.crm_user_id in engineers:
            raise FileProblems([Problem(str(path), None, f"engineers.{i}.crm_user_id",
                                        f"duplicate engineer {e.crm_user_id}")])
        engineers[e.crm_user_id] = Engineer(
            crm_user_id=e.crm_user_id, name=e.name, level=e.level, reviewer=e.reviewer,
            skills=tuple(e.skills), industries=tuple(e.industries), capacity=e.capacity,
            active=e.active, manager_id=e.manager)
    return engineers, frozenset(roster.managers)


def load(path: Path) -> Loaded:
    """Load the config file and the files it names; raise FileProblems (exit 2) on any
    problem, before anything touches the store or the CRM."""
    refuse_secrets(path)
    config = load_model(path, Config)
    base = path.parent
    mapping_path = (_resolve(base, config.mapping) if config.mapping
                    else default_mapping_path(config.crm.kind))
    mapping = load_mapping(mapping_path)
    if mapping.crm != config.crm.kind:
        raise FileProblems([Problem(str(mapping_path), None, "crm",
                                    f"mapping is for {mapping.crm}, config says {config.crm.kind}")])
    rules_path = _resolve(base, config.rules) if config.rules else default_rules_path()
    rules = load_model(rules_path, RulesSettings)
    check_expressions(rules, mapping, rules_path)
    engineers, managers = load_roster(_resolve(base, config.roster))
    kpi = load_model(_resolve(base, config.kpi) if config.kpi else default_kpi_path(), KpiSettings)
    return Loaded(path=path, config=config, mapping=mapping, rules=rules,
                  engineers=engineers, managers=managers, kpi=kpi, mapping_path=mapping_path)


def load_crm_only(path: Path) -> Loaded:
    """The config file alone, with the shipped mapping and rules and no roster: enough to
    talk to the CRM before the admin's mapping exists (`presales mappings init`)."""
    refuse_secrets(path)
    config = load_model(path, Config)
    return Loaded(path=path, config=config,
                  mapping=load_mapping(default_mapping_path(config.crm.kind)),
                  rules=load_model(default_rules_path(), RulesSettings), engineers={},
                  managers=frozenset())


def expression_limits() -> ExpressionLimits:
    """The rule expression cost limits (docs/limits.md), each raised by its environment variable."""
    defaults = ExpressionLimits()
    return ExpressionLimits(**{field: env_limit(var, getattr(defaults, field))
                               for field, var in LIMIT_VARIABLES.items()})


# Expressions are type-checked only; the date they are compiled for does not matter.
_ANY_DAY = date(2000, 1, 3)


def check_expressions(rules: RulesSettings, mapping: Mapping, rules_path: Path) -> None:
    """Every rule expression must compile against the mapping's inbound fields."""
    try:
        compile_rules(rules, fields=inbound_types(mapping.opportunity), today=_ANY_DAY,
                      limits=expression_limits())
    except RulesProblems as err:
        raise FileProblems([
            Problem(str(rules_path), line_of(rules_path, key), ".".join(map(str, key)), str(problem))
            for key, problem in err.problems]) from None


def default_rules_path() -> Path:
    from presales_sync import rules
    return Path(rules.__file__).parent / "default.yaml"


def default_kpi_path() -> Path:
    from presales_sync import rules
    return Path(rules.__file__).parent / "kpi.yaml"


def store_url(loaded: Loaded) -> str:
    """SQLite paths in the URL are relative to the config file, not the working dir."""
    url = loaded.config.store
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str(_resolve(loaded.path.parent, url[len(prefix):]))
    return url


__all__ = ["DEFAULT_CONFIG", "CalendarConfig", "Config", "CrmId", "Loaded", "ReportConfig",
           "check_expressions", "default_kpi_path", "expression_limits", "load",
           "load_crm_only",
           "load_roster", "store_url"]
