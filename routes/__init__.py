"""The gateway: Flask app factory, API blueprints (OpenAPI), callbacks, console pages."""
