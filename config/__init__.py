"""Configuration: typed settings from the environment, the Keycloak realm definition,
declared connectors, access rights, carrier and platform profiles."""
from config.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError"]
