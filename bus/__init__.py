"""The message bus on RabbitMQ: envelope, topology, publisher, consumer runner, request-reply, message log."""
