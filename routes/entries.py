"""What the routes add to the gateway (collected by `bootstrap.table`); functions, so that a worker
or the scheduler never imports a route."""


def blueprints() -> list:
    """Plain Flask blueprints: health and metrics, the platforms' and couriers' callbacks (no token)."""
    from routes import callbacks, health, logistics_callbacks

    return [health.blp, callbacks.blp, logistics_callbacks.blp]


def api_blueprints() -> list:
    """The flask-smorest blueprints, in the order the OpenAPI document lists them."""
    from routes.api import identity, logistics, operations, payments, reconciliation, services, supervision, system

    return [system.blp, identity.blp, identity.keycloak_blp, services.blp, payments.blp, logistics.blp, supervision.blp,
            reconciliation.blp, operations.blp]


def _finance_console(app) -> None:
    from routes import finance_console

    finance_console.init_app(app)  # the finance staff's reconciliation pages (R7), staff-console sign-in


def _supervision_console(app) -> None:
    from routes import supervision_console

    supervision_console.init_app(app)  # the supervisors' pages (电子监察), OIDC sign-in


def _operations_console(app) -> None:
    from routes import operations_console

    operations_console.init_app(app)  # the operators' pages (运维工作台), staff-console sign-in


GATEWAY_INSTALLS = [_finance_console, _supervision_console, _operations_console]
