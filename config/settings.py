"""One typed `Settings` object, read from `GOVLINK_*` environment variables.

Defaults work on a developer machine after `make services`: SQLite as the embedded database,
the local RabbitMQ, PostgreSQL and Keycloak started by `scripts/stack.sh`. Production sets every
secret explicitly (`GOVLINK_ENV=production` refuses the development defaults): the gateway's own
secrets here, at start; the payment platforms' and couriers' when their profiles are loaded
(`payment_bridge.profiles`, `logistics_bridge.profiles`), so a process that never pays or ships
does not need them.
"""
from __future__ import annotations

import dataclasses
import os
import re
import string
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

PREFIX = "GOVLINK_"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-change-me"


_DEMO_SEED_VALUES = {"": None, "1": True, "true": True, "yes": True, "on": True,
                     "0": False, "false": False, "no": False, "off": False}

# Secrets the gateway needs at start whose development default is not DEV_SECRET: refused in production too.
GATEWAY_DEV_SECRETS = ("metrics_token",)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def _secret(default: str = DEV_SECRET):
    return field(default=default, metadata={"secret": True}, repr=False)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    env: str = "dev"  # dev | test | production
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'govlink.sqlite3'}"
    amqp_url: str = "amqp://govlink:govlink@127.0.0.1:5672/%2F"
    keycloak_url: str = "http://127.0.0.1:8080"
    keycloak_management_url: str = "http://127.0.0.1:9000"
    realm: str = "hefei"
    keycloak_admin_user: str = "admin"
    keycloak_admin_password: str = _secret("admin")
    gateway_client_id: str = "govlink-gateway"
    gateway_client_secret: str = _secret()
    public_base_url: str = "http://127.0.0.1:8000"
    simulators_url: str = "http://127.0.0.1:8100"
    connectors_dir: str = str(REPO_ROOT / "config" / "connectors")
    access_file: str = str(REPO_ROOT / "config" / "access.yaml")
    config_reload_seconds: float = 5.0  # how often declarations and grants are checked for changes (0: never)
    retry_tiers: str = "1,10,60"  # seconds each retry tier waits before a failed message is tried again
    service_call_timeout_seconds: float = 15.0  # how long a synchronous API call waits for the department
    worker_concurrency: int = 4
    http_timeout_seconds: float = 10.0
    readiness_timeout_seconds: float = 2.0
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = 1_048_576
    # Bearer token of Prometheus' scrape of /metrics and of /readyz's details (targets, errors).
    metrics_token: str = _secret("dev-metrics-token")
    audit_checkpoint_key: str = _secret("")  # seals `govlink audit verify` checkpoints; empty: from the client secret
    token_cache_seconds: float = 60.0  # how long a verified token's principal is kept (0: verify every request)
    supervision_file: str = str(REPO_ROOT / "config" / "supervision.yaml")  # deadlines and the holiday calendar
    # The message log's local spool (one folder per database below it; keep it on a persistent disk).
    message_log_spool_dir: str = str(REPO_ROOT / "var" / "message-log-spool")
    message_log_max_backlog: int = 100_000  # spooled records beyond which record() slows its callers down
    message_log_max_wait_seconds: float = 30.0  # the longest record() waits for room before spooling anyway
    # The scheduler: a claim's lease (renewed while the job runs), retries of failed runs, catch-up.
    scheduler_lease_seconds: float = 120.0
    scheduler_retry_backoff: str = "600,1800,3600,7200,14400"  # seconds before each retry of a failed daily run
    scheduler_catch_up_days: int = 3  # missed days a daily job still runs when a scheduler comes back
    # A finance-console reconciliation job's lease: its process renews it every quarter of this; a job not
    # renewed for this long (its gateway process died) is failed `owner_lost` by `reconciliation.reclaim`.
    reconciliation_job_lease_seconds: float = 120.0
    # `make run`'s demo seed (bootstrap/demo_seed.py): "" = on in dev, off in test and production;
    # true / false to choose. Never in production: asking for it there is refused.
    demo_seed: str = ""
    # The operations console: each worker writes its circuit states this often; parking lots worth an alert.
    circuit_heartbeat_seconds: float = 15.0
    parking_alert_threshold: int = 10
    # Each worker's and the scheduler's own /healthz and /metrics (kernel/process_endpoint.py): one port per
    # process kind (0 or empty: none), on `metrics_host` (0.0.0.0 where Prometheus scrapes from elsewhere).
    metrics_host: str = "127.0.0.1"
    metrics_port_worker_connectors: int = field(default=9101, metadata={"empty": 0})
    metrics_port_worker_logistics: int = field(default=9102, metadata={"empty": 0})
    metrics_port_scheduler: int = field(default=9103, metadata={"empty": 0})

    # Payment platforms (config/payments.yaml); development values, refused in production.
    nontax_mac_token: str = _secret("dev-nontax-shared-token")  # the non-tax platform's shared MAC token
    wechatpay_api_base: str = ""  # empty: {simulators_url}/wechatpay
    wechatpay_appid: str = "wxd678efh567hg6787"
    wechatpay_mchid: str = "1900000001"
    wechatpay_merchant_serial: str = "6B3F2A1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A"
    wechatpay_merchant_key_file: str = "var/payment-keys/wechatpay-merchant-private.pem"  # relative to the repo
    wechatpay_platform_serial: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    wechatpay_platform_key_file: str = "var/payment-keys/wechatpay-platform-public.pem"
    # More platform keys verified at the same time: "SERIAL=path,SERIAL=path" (a certificate being rotated
    # in, or the platform public key "PUB_KEY_ID_..." of WeChat's public-key mode).
    wechatpay_platform_extra_keys: str = ""
    wechatpay_api_v3_key: str = _secret("devonlyAPIv3key0123456789abcdefg")  # 32 bytes
    # WeChat only calls https URLs; in development the simulator delivers to public_base_url instead.
    wechatpay_notify_url: str = "https://govlink.example.gov.cn/callbacks/payments/wechatpay"

    # Couriers (config/logistics.yaml); development values, refused in production.
    sf_partner_id: str = "HFZWFW_GOVLINK"
    sf_check_word: str = _secret("dev-sf-check-word-0123456789ab")
    sf_monthly_card: str = "5510000001"
    ems_sender_no: str = "1100077668899"
    ems_authorization: str = _secret("dev-ems-authorization-code")
    ems_sign_key: str = _secret("ZGV2LWVtcy1zbTQta2V5IQ==")  # Base64 of the 16-byte SM4 key
    kuaidi100_customer: str = "DEVCUSTOMER0001"
    kuaidi100_key: str = _secret("dev-kuaidi100-key")
    kuaidi100_salt: str = _secret("dev-kuaidi100-salt")  # signs the pushes of our subscriptions

    # SMS gateway (config/sms.yaml, Tencent Cloud SMS); development values, refused in production.
    sms_api_base: str = ""  # empty: {simulators_url}/tencent-sms
    sms_secret_id: str = "AKIDgovlinkDEVONLYsmsSecretId0000001"
    sms_secret_key: str = _secret("dev-only-sms-secret-key-0123456789")
    sms_sdk_app_id: str = "1400000001"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """Build settings from `GOVLINK_<FIELD>` variables; `overrides` win over the environment."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if f.name in overrides:
                values[f.name] = overrides[f.name]
            elif name in environ and "empty" in f.metadata and not environ[name].strip():
                values[f.name] = f.metadata["empty"]
            elif name in environ:
                values[f.name] = _parse(name, environ[name], f.type)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, with the variable to fix in the message."""
        if self.env not in {"dev", "test", "production"}:
            raise SettingsError(f"{PREFIX}ENV must be dev, test or production, not {self.env!r}")
        for name in ("database_url", "amqp_url", "keycloak_url", "public_base_url"):
            if "://" not in getattr(self, name):
                raise SettingsError(f"{PREFIX}{name.upper()} is not a URL")
        for name in ("database_url", "amqp_url"):  # several hosts or nodes: none may be empty
            try:
                url_per_host(getattr(self, name))
            except ValueError as exc:
                raise SettingsError(f"{PREFIX}{name.upper()}: {exc}") from None
        try:
            tiers = self.retry_tier_seconds
        except ValueError:
            tiers = ()
        if not tiers or any(t <= 0 for t in tiers):
            raise SettingsError(f"{PREFIX}RETRY_TIERS must be positive seconds separated by commas, e.g. 1,10,60")
        if self.message_log_max_backlog <= 0 or self.message_log_max_wait_seconds < 0:
            raise SettingsError(f"{PREFIX}MESSAGE_LOG_MAX_BACKLOG must be positive and {PREFIX}MESSAGE_LOG_MAX_WAIT_SECONDS 0 or more")
        if self.reconciliation_job_lease_seconds <= 0:
            raise SettingsError(f"{PREFIX}RECONCILIATION_JOB_LEASE_SECONDS must be positive seconds")
        if self.scheduler_lease_seconds <= 0 or self.scheduler_catch_up_days < 0:
            raise SettingsError(f"{PREFIX}SCHEDULER_LEASE_SECONDS must be positive and {PREFIX}SCHEDULER_CATCH_UP_DAYS 0 or more")
        try:
            backoff = tuple(int(x) for x in self.scheduler_retry_backoff.split(",") if x.strip())
        except ValueError:
            backoff = (-1,)
        if any(b <= 0 for b in backoff):
            raise SettingsError(f"{PREFIX}SCHEDULER_RETRY_BACKOFF must be positive seconds separated by commas "
                                "(empty: no retries), e.g. 600,1800,3600")
        for f in fields(self):
            if f.name.startswith("metrics_port_") and not 0 <= getattr(self, f.name) <= 65535:
                raise SettingsError(f"{PREFIX}{f.name.upper()} must be a TCP port (0 or empty: no endpoint)")
        if self.logging_level not in LOG_LEVELS:
            raise SettingsError(f"{PREFIX}LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.token_cache_seconds < 0:
            raise SettingsError(f"{PREFIX}TOKEN_CACHE_SECONDS must be 0 (off) or more seconds")
        if self.demo_seed.strip().lower() not in _DEMO_SEED_VALUES:
            raise SettingsError(f"{PREFIX}DEMO_SEED must be true, false or empty (on in dev only), not {self.demo_seed!r}")
        if self.env == "production" and self.demo_seed_on:
            raise SettingsError(f"{PREFIX}DEMO_SEED is refused in production: the demo seed drives made-up calls, "
                                f"payments and complaints into the system; unset {PREFIX}DEMO_SEED")
        if self.env == "production":
            weak = [f.name for f in fields(self) if f.metadata.get("secret") and getattr(self, f.name) in (DEV_SECRET, "admin")]
            weak += [n for n in GATEWAY_DEV_SECRETS if n not in weak and getattr(self, n) == Settings.__dataclass_fields__[n].default]
            if weak:
                raise SettingsError("production needs real secrets; set " + ", ".join(PREFIX + n.upper() for n in weak))

    def at_default(self, *names: str) -> list[str]:
        """The `GOVLINK_*` variables among the fields `names` that were left at their development default."""
        defaults = {f.name: f.default for f in fields(self)}
        return [PREFIX + name.upper() for name in names if getattr(self, name) == defaults[name]]

    def metrics_port_for(self, process: str) -> int | None:
        """The /healthz and /metrics port of a process kind (`worker-connectors`, `scheduler`), None if it has none."""
        port = getattr(self, "metrics_port_" + process.replace("-", "_"), 0)
        return port or None

    @property
    def logging_level(self) -> str:
        """GOVLINK_LOG_LEVEL as the `logging` module names it (`warning` -> `WARNING`)."""
        return self.log_level.strip().upper()

    @property
    def demo_seed_on(self) -> bool:
        """Whether `make run` seeds a demo day: GOVLINK_DEMO_SEED, else on in dev only."""
        value = self.demo_seed.strip().lower()
        return self.env == "dev" if value == "" else _DEMO_SEED_VALUES[value]

    @property
    def retry_tier_seconds(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.retry_tiers.split(",") if x.strip())

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.realm}"

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    def redacted(self) -> dict:
        """Settings as a dict with secrets and URL passwords hidden, for logs and diagnostics."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret"):
                value = "***"
            elif isinstance(value, str) and "://" in value:
                value = redact_url(value)
            out[f.name] = value
        return out


def fill(template, settings: Settings, **extra):
    """`template` with its `{field}` placeholders replaced by the settings' values (URLs lose a trailing
    slash) or by `extra`; anything but a string comes back unchanged. An unknown name raises SettingsError."""
    if not isinstance(template, str):
        return template
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values = {k: v.rstrip("/") if isinstance(v, str) and "://" in v else v for k, v in values.items()} | extra
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise SettingsError(f"{template!r} names no setting {exc}") from None


def placeholders(template) -> set[str]:
    """The `{field}` names `template` uses (empty for anything but a string)."""
    if not isinstance(template, str):
        return set()
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def redact_url(url: str) -> str:
    """Hide the password of a URL (`amqp://user:***@host/`), also of one naming several hosts."""
    scheme, sep, rest = url.partition("://")
    netloc, tail = re.match(r"([^/?#]*)(.*)", rest, re.S).groups()
    userinfo, at, hosts = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hosts}{tail}"


def url_per_host(url: str) -> list[str]:
    """One URL per host of `scheme://user:pw@h1:p1,h2:p2/path?query` (libpq's multi-host form, also
    used for the broker's nodes); several whole URLs separated by commas or spaces are split too.
    Raises ValueError on an empty host."""
    urls = [u for u in re.split(r"[,\s]+(?=[A-Za-z][A-Za-z0-9+.-]*://)", url.strip()) if u]
    out = []
    for one in urls:
        scheme, sep, rest = one.partition("://")
        netloc, tail = re.match(r"([^/?#]*)(.*)", rest, re.S).groups()
        userinfo, at, hosts = netloc.rpartition("@")
        if not hosts:  # sqlite:///file, unix sockets
            out.append(one)
            continue
        for host in hosts.split(","):
            if not host.strip():
                raise ValueError(f"an empty host in {redact_url(one)}")
            out.append(f"{scheme}{sep}{userinfo}{at}{host.strip()}{tail}")
    return out


def _parse(name: str, raw: str, type_name: str):
    kind = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if kind == "bool":
            low = raw.strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind}, got {raw!r}") from None
    return raw
