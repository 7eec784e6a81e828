"""API blueprints (flask-smorest), one module per area."""
