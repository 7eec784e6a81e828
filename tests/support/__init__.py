"""Helpers the test suites share: people in Keycloak, the gateway on a real port, events read from RabbitMQ,
queues deleted after a test, an applicant's address."""
