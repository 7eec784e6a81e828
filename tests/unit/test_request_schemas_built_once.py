"""Request schemas are built once, when the routes are declared, not on every request.

webargs instantiates a schema *class* given to `@blp.arguments` anew for each request (marshmallow
binds every field then): some 6% of the gateway's CPU on a department call (py-spy, issue 18).
"""
from bootstrap.gateway import create_app
from config.settings import Settings


def test_no_route_hands_webargs_a_schema_class():
    app = create_app(Settings.from_env({}, database_url="sqlite:///:memory:"))
    declared, classes = 0, []
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            declared += 1
            if isinstance(parameter.get("schema"), type):
                classes.append(f"{endpoint}: {parameter['schema'].__name__}")
    assert declared >= 30  # the routes' arguments were found at all
    assert not classes, "give @blp.arguments a schema instance: " + ", ".join(classes)
