"""The payment bridge's shape (issue 17): small handlers, no mixins, the `Payments` interface kept."""
import importlib
import inspect
import pkgutil
from pathlib import Path

import payment_bridge
from payment_bridge.api import Payments
from payment_bridge.assembly import PaymentBridge

ROOT = Path(payment_bridge.__file__).parent


def _modules():
    for info in pkgutil.walk_packages([str(ROOT)], prefix="payment_bridge."):
        yield importlib.import_module(info.name)


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_class_with_more_than_ten_public_methods_and_no_mixins():
    for module in _modules():
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            public = [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")]
            assert len(public) <= 10, (module.__name__, name, public)
            assert not name.endswith(("Mixin", "Closing")), (module.__name__, name)
            own_bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("payment_bridge.handlers")]
            assert not own_bases, (name, own_bases)


def test_the_bridge_has_every_payments_method_with_its_keywords():
    for name, member in vars(Payments).items():
        if name.startswith("_") or not callable(member):
            continue
        wanted = inspect.signature(member).parameters
        have = inspect.signature(getattr(PaymentBridge, name)).parameters
        assert list(wanted) == list(have), name
        assert all(have[p].kind == wanted[p].kind for p in wanted), name
