"""Helpers the test suites share: people in Keycloak, the gateway on a real port, events read from RabbitMQ."""
