"""The profile API (``cdp serve``): one customer's profile in milliseconds, and feature services for lists of them.

- ``GET /v1/profiles/{customer_id}``: traits, audiences and consent from the online store; ``include_pii=true``
  adds name and contact fields for keys with ``pii:read``.
- ``GET /v1/profiles?email=...`` / ``?phone=...``: the same, found through the identity graph.
- ``POST /v1/features``: a feature service (``personalisation_v1``, ...) for up to 1,000 customers.
- ``GET /v1/health``: the online store answers.

Every error is JSON ``{"error": code, "message": text}`` (422 malformed input, 401/403 keys and scopes, 404 unknown
customer or service, 409 ambiguous identifier, 503 online store or registry unavailable). OpenAPI at ``/docs``.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (dependencies defined inside
# create_app) when they are declared.
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdp.settings import Settings
from feature_store.auth import ApiKeys
from feature_store.feature_repo.feature_views import CHANNELS, CONSENT_PURPOSES
from feature_store.lookup import AmbiguousIdentifier, IdentityLookup, IdentityLookupError, IdType
from feature_store.store import Features, FeatureStoreError

log = logging.getLogger(__name__)

# Customer ids are minted by identity resolution as "cus_" + 16 hex digits (spark_jobs/transforms/stable_ids.py).
CUSTOMER_ID_PATTERN = r"^cus_[0-9a-f]{16}$"
_CUSTOMER_ID = re.compile(CUSTOMER_ID_PATTERN)
MAX_CUSTOMERS_PER_REQUEST = 1000
PROFILE_VIEWS = ("customer_rfm", "customer_preferences", "customer_clv", "customer_churn", "customer_cx")
PRESSURE_VIEW, CONSENT_VIEW, AUDIENCE_VIEW, PII_VIEW = (
    "customer_contact_pressure",
    "customer_consent",
    "customer_audiences",
    "customer_profile",
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message, **extra})


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning the online store or the registry cannot be reached (-> 503, retried on the next call)."""
    import redis
    import sqlalchemy.exc

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, sqlalchemy.exc.OperationalError,
            sqlite3.OperationalError, ConnectionError, TimeoutError)  # fmt: skip


class Profile(BaseModel):
    customer_id: str
    traits: dict[str, Any] = Field(description="RFM, preferences, CLV, churn risk, CX scores, contact pressure.")
    audiences: list[str] = Field(description="Audiences the customer is activated in.")
    holdout_audiences: list[str] = Field(description="Audiences the customer is held out of (not to be used).")
    consent: dict[str, dict[str, bool | None]] = Field(description="Consent in force: purpose -> channel -> granted.")
    pii: dict[str, Any] | None = Field(None, description="Name and contact fields; only with include_pii=true.")
    matched_by: str | None = Field(None, description="email or phone when found by lookup.")


class FeaturesRequest(BaseModel):
    service: str = Field(description="Feature service name, e.g. personalisation_v1.", examples=["personalisation_v1"])
    customer_ids: list[Annotated[str, Field(pattern=CUSTOMER_ID_PATTERN)]] = Field(
        min_length=1, max_length=MAX_CUSTOMERS_PER_REQUEST
    )


class CustomerFeatures(BaseModel):
    customer_id: str
    found: bool
    features: dict[str, Any]


class FeaturesResponse(BaseModel):
    service: str
    results: list[CustomerFeatures]


class ServingState:
    """What the app holds for its lifetime: the feature store, the identity lookup, the keys."""

    def __init__(self, settings: Settings, features: Features | None = None) -> None:
        from spark_jobs.rules import load_rules

        self.settings = settings
        self.features = features or Features(settings, serving=True)
        self.keys = ApiKeys(settings.api_keys)
        self.lookup = IdentityLookup(self.features.lake, load_rules(), settings.default_phone_region)
        self._views: dict[str, list[str]] | None = None
        self._pii_views: set[str] = set()

    def views(self) -> dict[str, list[str]]:
        """Feature view -> feature names, from the registry (cached; refreshed when a view is missing)."""
        if self._views is None or PII_VIEW not in self._views:
            store = self.features.store
            views = store.list_feature_views()
            self._views = {v.name: [f.name for f in v.features] for v in views}
            self._pii_views = {v.name for v in views if v.tags.get("pii") == "true"}
            if not self._views:
                raise ApiError(503, "features_not_applied", "the feature store is empty: run `cdp features apply`")
        return self._views

    def service_views(self, service: Any) -> set[str]:
        return {p.name for p in service.feature_view_projections}

    def is_pii_view(self, name: str) -> bool:
        self.views()
        return name in self._pii_views


def create_app(settings: Settings, features: Features | None = None) -> FastAPI:
    state = ServingState(settings, features)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            state.views()  # build Feast's FeatureStore now (seconds), not on the first request
            state.lookup.warm()
        except Exception as exc:  # the API still starts; requests answer 503 until the store is there
            log.warning("feature store not ready at start: %s", exc)
        yield
        state.features.close()

    app = FastAPI(
        title="CDP profile API",
        version="1",
        description=__doc__,
        lifespan=lifespan,
    )
    app.state.serving = state
    unavailable = _unavailable_errors()

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in exc.errors()]
        return _error(422, "invalid_request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, unavailable):
            return _error(503, "online_store_unavailable", f"the feature store cannot be reached: {type(exc).__name__}")
        log.exception("unexpected error")
        return _error(500, "internal_error", "unexpected error; see the server log")

    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (see `cdp api-key`).")

    # async: a sync dependency would cost every request one more hop through the thread pool.
    async def scopes(key: Annotated[str | None, Depends(api_key_header)]) -> frozenset[str]:
        if not state.keys:
            raise ApiError(401, "no_api_keys", "the server has no API keys configured: set CDP_API_KEYS")
        if not key:
            raise ApiError(401, "missing_api_key", "send an API key in the X-API-Key header")
        found = state.keys.scopes(key)
        if found is None:
            raise ApiError(401, "invalid_api_key", "the API key is not valid")
        return found

    def need(granted: frozenset[str], scope: str, what: str) -> None:
        if scope not in granted:
            raise ApiError(403, "insufficient_scope", f"{what} needs the {scope} scope", required_scope=scope)

    def store_unavailable(exc: BaseException) -> ApiError:
        return ApiError(
            503, "online_store_unavailable", f"the feature store cannot be reached ({type(exc).__name__}); retry"
        )

    def online_store_call(call):
        try:
            return call()
        except unavailable as exc:
            raise store_unavailable(exc) from exc

    async def online_store_read(read: Awaitable[Any]) -> Any:
        try:
            return await read
        except unavailable as exc:
            raise store_unavailable(exc) from exc

    # The endpoints are async: a sync endpoint costs two thread-pool hops per request (the endpoint, then the check
    # of its response), more than the feature read itself on a busy machine. Reads await Redis (Features.online_async).
    async def read_profile(customer_id: str, include_pii: bool, granted: frozenset[str]) -> Profile:
        if include_pii:
            need(granted, "pii:read", "include_pii=true")
        if not _CUSTOMER_ID.match(customer_id):
            raise ApiError(422, "malformed_customer_id", f"{customer_id!r} is not a customer id (cus_ + 16 hex digits)")
        views = online_store_call(state.views)
        names = [*PROFILE_VIEWS, PRESSURE_VIEW, CONSENT_VIEW, AUDIENCE_VIEW] + ([PII_VIEW] if include_pii else [])
        refs = [f"{view}:{feature}" for view in names for feature in views.get(view, [])]
        values = (await online_store_read(state.features.online_async([customer_id], features=refs))).to_dict()
        row = {name: column[0] for name, column in values.items() if name != "customer_id"}
        if all(v is None for v in row.values()):
            raise ApiError(404, "customer_not_found", f"no customer {customer_id} in the online store")
        traits = {f: row.get(f) for v in (*PROFILE_VIEWS, PRESSURE_VIEW) for f in views.get(v, [])}
        consent = {p: {c: row.get(f"consent_{p}_{c}") for c in CHANNELS} for p in CONSENT_PURPOSES}
        pii = {f: row.get(f) for f in views.get(PII_VIEW, [])} if include_pii else None
        return Profile(
            customer_id=customer_id,
            traits=traits,
            audiences=row.get("audiences") or [],
            holdout_audiences=row.get("holdout_audiences") or [],
            consent=consent,
            pii=pii,
        )

    @app.get("/v1/profiles/{customer_id}", response_model=Profile, response_model_exclude_none=True)
    async def get_profile(
        customer_id: str,
        granted: Annotated[frozenset[str], Depends(scopes)],
        include_pii: Annotated[bool, Query(description="Add name and contact fields (needs pii:read).")] = False,
    ) -> Profile:
        """One customer's profile: traits, audiences and consent in force (PII only with include_pii and pii:read)."""
        need(granted, "profiles:read", "reading a profile")
        return await read_profile(customer_id, include_pii, granted)

    @app.get("/v1/profiles", response_model=Profile, response_model_exclude_none=True)
    async def find_profile(
        granted: Annotated[frozenset[str], Depends(scopes)],
        email: Annotated[
            str | None, Query(description="Email, any case or dots (normalised as identity does).")
        ] = None,
        phone: Annotated[str | None, Query(description="Phone, local or international form.")] = None,
        include_pii: Annotated[bool, Query(description="Add name and contact fields (needs pii:read).")] = False,
    ) -> Profile:
        """Find a profile by email or phone through the identity graph (409 when several customers held it)."""
        need(granted, "profiles:read", "looking up a profile")
        if (email is None) == (phone is None):
            raise ApiError(422, "invalid_request", "give exactly one of email or phone")
        id_type: IdType = "email" if email is not None else "phone"
        try:
            # In a thread: the lookup table is rebuilt (seconds) when the identity graph has a new version.
            match = await run_in_threadpool(state.lookup.find, id_type, email if email is not None else phone)  # type: ignore[arg-type]
        except AmbiguousIdentifier as exc:
            raise ApiError(409, exc.code, str(exc), customer_ids=exc.customer_ids) from None
        except IdentityLookupError as exc:
            status = {"unusable_identifier": 422, "customer_not_found": 404}.get(exc.code, 503)
            raise ApiError(status, exc.code, str(exc)) from None
        profile = await read_profile(match.customer_id, include_pii, granted)
        profile.matched_by = match.id_type
        return profile

    @app.post("/v1/features", response_model=FeaturesResponse)
    async def post_features(request: FeaturesRequest, granted: Annotated[frozenset[str], Depends(scopes)]) -> Any:
        """A feature service's values for a list of customers (in the order given; unknown ones have found=false)."""
        need(granted, "features:read", "reading feature services")
        try:
            service = online_store_call(lambda: state.features.service(request.service))
        except FeatureStoreError as exc:
            raise ApiError(404, "unknown_feature_service", str(exc)) from None
        if any(state.is_pii_view(v) for v in state.service_views(service)):
            need(granted, "pii:read", f"feature service {request.service} (it has PII)")
        read = state.features.online_async(request.customer_ids, service=request.service)
        values = (await online_store_read(read)).to_dict()
        names = [n for n in values if n != "customer_id"]
        results = []
        for i, customer_id in enumerate(request.customer_ids):
            row = {n: values[n][i] for n in names}
            results.append(
                CustomerFeatures(customer_id=customer_id, found=any(v is not None for v in row.values()), features=row)
            )
        return FeaturesResponse(service=request.service, results=results)

    @app.get("/v1/health")
    async def health() -> dict[str, Any]:
        """The online store and registry answer (no key needed)."""
        views = online_store_call(state.views)
        await online_store_read(state.features.online_async(["cus_0000000000000000"], features=[
            f"{AUDIENCE_VIEW}:{views[AUDIENCE_VIEW][0]}"]))  # fmt: skip
        return {"status": "ok", "stores": state.features.describe(), "feature_views": len(views)}

    return app
