"""Connectors to legacy department systems: the interface, registry, SOAP and REST connectors."""
