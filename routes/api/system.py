"""System information: version and the service catalogue's health, for operators and channels."""
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

blp = Blueprint("system", __name__, url_prefix="/api/v1/system", description="About this govlink deployment")


class InfoSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    realm = fields.String(required=True)
    issuer = fields.String(required=True)


@blp.get("/info")
@blp.response(200, InfoSchema)
def info():
    """Version and identity provider of this deployment."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("govlink")
    except PackageNotFoundError:
        ver = "dev"
    s = current_app.extensions["govlink"].settings
    return {"name": "govlink", "version": ver, "realm": s.realm, "issuer": s.issuer}
