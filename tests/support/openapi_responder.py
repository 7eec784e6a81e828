"""A local Swagger Petstore v3 for the REST + OpenAPI tests, in the style of `simulators/`.

It serves the real document (`tests/fixtures/openapi/petstore-v3.yaml`) at `/v3/openapi.yaml`
(its `servers` entry is `/v3`, so the document's own URL gives the base URL) and answers the pet,
store and user operations the way the public Petstore does, from memory.

`control(mode=...)`: `normal`, `missing_name` (pets are answered without their required `name`),
`wrong_types` (pet ids as strings). `requests` keeps every request to an operation (method, path,
query, JSON body), so a test can see that nothing was sent.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Callable

from werkzeug.wrappers import Request, Response

from simulators.channels.serving import serve_in_thread

DOCUMENT = Path(__file__).resolve().parent.parent / "fixtures" / "openapi" / "petstore-v3.yaml"


class Petstore:
    def __init__(self):
        self.base_url = ""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.mode = "normal"
            self.requests: list[dict] = []
            self.pets = {
                1: {"id": 1, "name": "旺财", "category": {"id": 1, "name": "Dogs"}, "photoUrls": ["https://example.org/1.jpg"],
                    "tags": [{"id": 7, "name": "friendly"}], "status": "available"},
                2: {"id": 2, "name": "Kitty", "photoUrls": [], "status": "sold"},
            }

    def control(self, mode: str) -> None:
        if mode not in ("normal", "missing_name", "wrong_types"):
            raise ValueError("bad mode")
        with self._lock:
            self.mode = mode

    def document_url(self) -> str:
        return f"{self.base_url}/v3/openapi.yaml"

    def served(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r["method"] == method)

    def __call__(self, environ, start_response):
        return self._answer(Request(environ))(environ, start_response)

    def _pet(self, pet: dict) -> dict:
        pet = json.loads(json.dumps(pet))
        if self.mode == "missing_name":
            pet.pop("name", None)
        elif self.mode == "wrong_types":
            pet["id"] = str(pet["id"])
        return pet

    def _answer(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path == "/v3/openapi.yaml":
            return Response(DOCUMENT.read_bytes(), content_type="application/yaml")
        if not path.startswith("/v3/"):
            return _json({"code": 404, "message": "not found"}, 404)
        body = request.get_json(silent=True) if request.data else None
        with self._lock:
            self.requests.append({"method": request.method, "path": path, "query": request.args.to_dict(flat=False),
                                  "body": body})
            parts = path.split("/")[2:]
            if parts == ["pet"] and request.method in ("POST", "PUT"):
                if not isinstance(body, dict) or "name" not in body:
                    return _json({"code": 405, "message": "Invalid input"}, 405)
                pet = dict(body, id=body.get("id") or max(self.pets) + 1)
                self.pets[pet["id"]] = pet
                return _json(self._pet(pet))
            if parts == ["pet", "findByStatus"]:
                wanted = request.args.getlist("status") or ["available"]
                return _json([self._pet(p) for p in self.pets.values() if p.get("status") in wanted])
            if len(parts) == 2 and parts[0] == "pet":
                if not parts[1].isdigit():
                    return _json({"code": 400, "message": "Invalid ID supplied"}, 400)
                pet = self.pets.get(int(parts[1]))
                if pet is None:
                    return _json({"code": 1, "type": "error", "message": "Pet not found"}, 404)
                if request.method == "DELETE":
                    del self.pets[int(parts[1])]
                    return Response(b"Pet deleted", content_type="text/plain")
                if request.method == "POST":
                    pet.update({k: v for k, v in request.args.items() if k in ("name", "status")})
                return _json(self._pet(pet))
            if parts == ["store", "inventory"]:
                counts: dict = {}
                for pet in self.pets.values():
                    counts[pet.get("status", "unknown")] = counts.get(pet.get("status", "unknown"), 0) + 1
                return _json(counts)
        return _json({"code": 404, "message": "not found"}, 404)


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False).encode("utf-8"), status=status,
                    content_type="application/json")


def serve() -> tuple[Petstore, Callable[[], None]]:
    """Start the Petstore on a free port; returns (petstore, stop)."""
    petstore = Petstore()
    base_url, stop = serve_in_thread(petstore, "127.0.0.1", 0)
    petstore.base_url = base_url
    return petstore, stop
