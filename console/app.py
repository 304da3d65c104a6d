"""The CX console: server-rendered pages and their JSON twins, mounted by ``cdp serve`` at ``/console``.

Pages: ``/console/metrics`` (NPS, CSAT, CES trends with intervals), ``/drivers``, ``/journeys`` (funnel, retention
cohorts, support), ``/segments`` (audience sizes), ``/verbatims`` (masked text), ``/cases`` and ``/cases/{id}``
(agents), ``/audiences`` and ``/audiences/{name}`` (dry-run counts, exports), ``/users``; JSON under
``/console/api/...``. Login with a username and password (Argon2 hashes from ``CDP_CONSOLE_USERS``), a signed,
HttpOnly, SameSite=strict session cookie, a CSRF token on every form and API post. Every route needs the permission
``console.access.ROUTE_PERMISSIONS`` names for it; refusals are 403 and logged with the role and path only.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations when they are declared.
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from cdp import lake as layout
from cdp.lake import Lake
from cdp.settings import Settings
from console import charts, data
from console.access import ROLE_PERMISSIONS, may, navigation
from console.users import ConsoleUser, authenticate, parse_users

log = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _shown(value: Any) -> str:
    """A value as a page shows it: times to the minute, ratios and scores to one decimal, missing as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] == "T":
        return value[:16].replace("T", " ")
    return str(value)


TEMPLATES.env.filters["shown"] = _shown
SESSION_COOKIE = "cdp_console"


class ConsoleError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/")


class ConsoleState:
    def __init__(self, settings: Settings, reader: data.LakeReader | None = None) -> None:
        self.settings = settings
        self.lake = Lake(settings.lake_root)
        self.reader = reader or data.LakeReader(self.lake)
        self.users = parse_users(settings.console_users)
        self._charts: dict[tuple[str, int], str] = {}
        self.dry_runs: dict[tuple[str, datetime], dict[str, Any]] = {}
        self._cases: dict[tuple[tuple[Any, ...], tuple[int, int]], Any] = {}
        self._lock = threading.Lock()
        self.dry_run_lock = threading.Lock()

    def cases_cached(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        """A case read (a DuckDB query over the cases and the action log: about a second), cached until either
        table gets a new Delta version, so an agent's update shows at once."""
        try:
            versions = (
                self.reader.version(layout.CX_CASES, fresh=True),
                self.reader.version(layout.CX_CASE_ACTIONS, fresh=True),
            )
        except data.NotBuilt as exc:
            if exc.table == layout.CX_CASES:
                return read()  # raises cx.cases.CaseNotFound
            versions = (self.reader.version(layout.CX_CASES, fresh=True), -1)  # no action recorded yet
        found = self._cases.get((key, versions))
        if found is None:
            found = read()
            with self._lock:
                self._cases = {k: v for k, v in self._cases.items() if k[1] == versions}  # older versions: stale
                self._cases[(key, versions)] = found
        return found

    def chart(self, key: str, version_of: data.Table, draw: Callable[[], str]) -> str:
        """A chart's SVG, drawn once per version of the table it shows."""
        version = self.reader.version(version_of)
        found = self._charts.get((key, version))
        if found is None:
            found = self._charts[(key, version)] = draw()
        return found


def _section_missing(title: str, exc: Exception) -> dict[str, Any]:
    return {"kind": "missing", "title": title, "message": str(exc)}


def _sections(*builders: tuple[str, Callable[[], list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Run each section builder; a table not built yet becomes a clear note instead of an error page."""
    out: list[dict[str, Any]] = []
    for title, build in builders:
        try:
            out += build()
        except data.NotBuilt as exc:
            out.append(_section_missing(title, exc))
    return out


def _table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> dict[str, Any]:
    columns = columns or (list(rows[0]) if rows else [])
    return {"kind": "table", "title": title, "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows]}


def create_console_app(settings: Settings, reader: data.LakeReader | None = None) -> FastAPI:
    state = ConsoleState(settings, reader)
    secret = settings.console_session_secret or secrets.token_urlsafe(32)
    if not settings.console_session_secret:
        log.warning("CDP_CONSOLE_SESSION_SECRET is not set: console sessions end when the server restarts")
    app = FastAPI(title="CDP CX console", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=int(settings.console_session_hours * 3600),
        same_site="strict",
        https_only=settings.console_secure_cookie,
    )
    app.state.console = state

    # Errors -------------------------------------------------------------------------------------------------------

    @app.exception_handler(ConsoleError)
    async def console_error(request: Request, exc: ConsoleError) -> Response:
        if exc.status == 401 and not _is_api(request):
            return RedirectResponse(str(request.url_for("login_page")), status_code=303)
        if _is_api(request):
            return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)
        return _render(
            request,
            "error.html",
            {"title": "Not allowed" if exc.status == 403 else "Error", "message": exc.message},
            status=exc.status,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return await console_error(request, ConsoleError(exc.status_code, "http_error", str(exc.detail)))

    # Who is asking ------------------------------------------------------------------------------------------------

    def current_user(request: Request) -> ConsoleUser:
        username = request.session.get("user")
        user = state.users.get(username) if isinstance(username, str) else None
        if user is None:  # never logged in, or removed from the configuration since
            request.session.clear()
            raise ConsoleError(401, "not_logged_in", "log in first at /console/login")
        return user

    def guard(route_name: str) -> Callable[..., ConsoleUser]:
        def check(request: Request) -> ConsoleUser:
            user = current_user(request)
            if not may(user.role, route_name):
                log.warning("console: forbidden role=%s path=%s", user.role, request.url.path)
                raise ConsoleError(403, "forbidden", f"the {user.role} role may not open this page or call this API")
            return user

        return check

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not isinstance(token, str):
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def check_csrf(request: Request, presented: str | None) -> None:
        expected = request.session.get("csrf")
        if not isinstance(expected, str) or not presented or not hmac.compare_digest(expected, presented):
            raise ConsoleError(403, "csrf_failed", "the form's security token is missing or stale: reload the page")

    def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        username = request.session.get("user")
        user = state.users.get(username) if isinstance(username, str) else None
        base = {
            "user": user,
            "nav": navigation(user.role) if user else [],
            "csrf_token": csrf_token(request),
        }
        return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status)

    def route(path: str, name: str, methods: tuple[str, ...] = ("GET",), **kwargs: Any) -> Callable[..., Any]:
        """Declare a route whose access ROUTE_PERMISSIONS governs (the guard runs before the endpoint)."""
        return app.api_route(path, name=name, methods=list(methods), **kwargs)

    def user_for(name: str) -> Any:
        return Annotated[ConsoleUser, Depends(guard(name))]

    # Login --------------------------------------------------------------------------------------------------------

    @app.get("/", name="home")
    def home(request: Request) -> Response:
        user = current_user(request)
        pages = navigation(user.role)
        return RedirectResponse(str(request.url_for(pages[0][0] if pages else "login_page")), status_code=303)

    @app.get("/login", name="login_page", response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return _render(request, "login.html", {"title": "Log in", "error": None})

    @app.post("/login", name="login")
    def login(
        request: Request,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf: Annotated[str | None, Form(alias="csrf_token")] = None,
    ) -> Response:
        check_csrf(request, csrf)
        user = authenticate(state.users, username, password)
        if user is None:
            log.info("console: failed login")  # no username: it may be an email address
            return _render(
                request, "login.html", {"title": "Log in", "error": "Wrong username or password."}, status=401
            )
        request.session.clear()  # a fresh session (and CSRF token) at login: no session fixation
        request.session.update({"user": user.username, "csrf": secrets.token_urlsafe(32)})
        log.info("console: login role=%s", user.role)
        return RedirectResponse(str(request.url_for("home")), status_code=303)

    @app.post("/logout", name="logout")
    def logout(request: Request, csrf: Annotated[str | None, Form(alias="csrf_token")] = None) -> Response:
        check_csrf(request, csrf)
        request.session.clear()
        return RedirectResponse(str(request.url_for("login_page")), status_code=303)

    @app.get("/api/me", name="me_api")
    def me(request: Request) -> dict[str, Any]:
        user = current_user(request)
        return {
            "username": user.username,
            "role": user.role,
            "csrf_token": csrf_token(request),
            "permissions": sorted(ROLE_PERMISSIONS[user.role]),
        }

    # Aggregates ---------------------------------------------------------------------------------------------------

    def metrics_payload() -> dict[str, Any]:
        out: dict[str, Any] = {"trends": data.survey_trends(state.reader)}
        out["by"] = {d: data.survey_breakdown(state.reader, d) for d in ("touchpoint", "channel", "store_id")}
        return out

    def metrics_sections() -> list[dict[str, Any]]:
        trends = data.survey_trends(state.reader)
        units = {"NPS": "NPS (-100..100)", "CSAT": "CSAT (% satisfied)", "CES": "CES mean (1-7, 7 = easy)"}
        limits = {"NPS": (-100.0, 100.0), "CSAT": (0.0, 100.0), "CES": (1.0, 7.0)}
        out = [
            {
                "kind": "chart",
                "title": f"{survey} by month",
                "svg": state.chart(
                    f"trend:{survey}",
                    data.SURVEY_METRICS,
                    partial(charts.trend, trends[survey], f"{survey} by month", units[survey], limits[survey]),
                ),
            }
            for survey in ("NPS", "CSAT", "CES")
            if trends.get(survey)
        ]
        for dimension in ("touchpoint", "channel", "store_id"):
            rows = data.survey_breakdown(state.reader, dimension)
            columns = [
                "survey_type",
                "dimension_value",
                "responses",
                "is_reportable",
                "nps",
                "nps_ci_low",
                "nps_ci_high",
                "csat",
                "csat_ci_low",
                "csat_ci_high",
            ]
            period = rows[0]["period_start"] if rows else "latest month"
            out.append(_table(f"By {dimension} ({period}; not reportable below the minimum sample)", rows, columns))
        return out

    @route("/metrics", "metrics_page", response_class=HTMLResponse)
    def metrics_page(request: Request, user: user_for("metrics_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(("Survey metrics", metrics_sections))
        return _render(request, "sections.html", {"title": "NPS, CSAT and CES", "sections": sections})

    @route("/api/metrics", "metrics_api")
    def metrics_api(user: user_for("metrics_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return metrics_payload()

    def drivers_sections() -> list[dict[str, Any]]:
        rows = data.key_drivers(state.reader)
        out: list[dict[str, Any]] = []
        for survey in sorted({str(r["survey_type"]) for r in rows if r.get("survey_type")}):
            estimated = [r for r in rows if r.get("survey_type") == survey and r.get("importance") is not None]
            if not estimated:  # e.g. too few answers: say why instead of drawing empty bars
                reasons = sorted({str(r.get("status")) for r in rows if r.get("survey_type") == survey})
                out.append(
                    {
                        "kind": "missing",
                        "title": f"Key drivers of {survey}",
                        "message": f"no estimate for {survey}: {', '.join(reasons)}",
                    }
                )
                continue
            svg = state.chart(
                f"drivers:{survey}",
                data.KEY_DRIVERS,
                partial(
                    charts.interval_bars,
                    [r["driver"] for r in estimated],
                    [r["importance"] for r in estimated],
                    [r.get("ci_low") for r in estimated],
                    [r.get("ci_high") for r in estimated],
                    f"Key drivers of {survey}",
                    "relative importance (share of R²)",
                ),
            )
            out.append({"kind": "chart", "title": f"Key drivers of {survey}", "svg": svg})
        columns = [
            "survey_type",
            "driver",
            "status",
            "importance",
            "ci_low",
            "ci_high",
            "importance_rank",
            "coefficient",
            "responses",
        ]
        out.append(_table("Key drivers", rows, columns))
        return out

    @route("/drivers", "drivers_page", response_class=HTMLResponse)
    def drivers_page(request: Request, user: user_for("drivers_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(("Key drivers", drivers_sections))
        return _render(request, "sections.html", {"title": "Key drivers", "sections": sections})

    @route("/api/drivers", "drivers_api")
    def drivers_api(user: user_for("drivers_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"drivers": _jsonable(data.key_drivers(state.reader))}

    def funnel_sections() -> list[dict[str, Any]]:
        steps = data.funnel(state.reader)
        notes = [
            f"({s['conversion_from_previous']:.0%} of previous)" if s["conversion_from_previous"] else "" for s in steps
        ]
        svg = state.chart(
            "funnel",
            data.JOURNEY_FUNNEL,
            lambda: charts.bars(
                [s["step"] for s in steps], [s["sessions"] for s in steps], "Purchase funnel", "sessions", notes
            ),
        )
        return [{"kind": "chart", "title": "Purchase funnel (all weeks, web and app)", "svg": svg}]

    def cohort_sections() -> list[dict[str, Any]]:
        rows = data.retention(state.reader)
        svg = state.chart(
            "cohorts", data.RETENTION_COHORTS, lambda: charts.cohort_heatmap(rows, "Retention by first-purchase month")
        )
        return [{"kind": "chart", "title": "Retention cohorts", "svg": svg}]

    def support_sections() -> list[dict[str, Any]]:
        return [_table("Support service by channel (all weeks)", data.support_by_channel(state.reader))]

    @route("/journeys", "journeys_page", response_class=HTMLResponse)
    def journeys_page(request: Request, user: user_for("journeys_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(
            ("Purchase funnel", funnel_sections),
            ("Retention cohorts", cohort_sections),
            ("Support service", support_sections),
        )
        return _render(request, "sections.html", {"title": "Journeys", "sections": sections})

    @route("/api/journeys", "journeys_api")
    def journeys_api(user: user_for("journeys_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        out: dict[str, Any] = {}
        for key, read in (("funnel", data.funnel), ("retention", data.retention), ("support", data.support_by_channel)):
            try:
                out[key] = _jsonable(read(state.reader))
            except data.NotBuilt as exc:
                out[key] = {"not_built": str(exc)}
        return out

    def segment_sections() -> list[dict[str, Any]]:
        sizes = data.audience_sizes(state.reader)
        svg = state.chart(
            "segments",
            data.layout.AUDIENCE_MEMBERSHIPS,
            lambda: charts.bars(
                [s["audience_name"] for s in sizes],
                [s["members"] for s in sizes],
                "Audience sizes",
                "members",
                [f"(+{s['holdout']:,} holdout)" if s["holdout"] else "" for s in sizes],
            ),
        )
        return [{"kind": "chart", "title": "Audience sizes", "svg": svg}, _table("Audiences", sizes)]

    @route("/segments", "segments_page", response_class=HTMLResponse)
    def segments_page(request: Request, user: user_for("segments_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(("Audience sizes", segment_sections))
        return _render(request, "sections.html", {"title": "Segments", "sections": sections})

    @route("/api/segments", "segments_api")
    def segments_api(user: user_for("segments_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"audiences": data.audience_sizes(state.reader)}

    # Verbatims (masked) -------------------------------------------------------------------------------------------

    def masked_verbatims() -> list[dict[str, Any]]:
        try:
            from cx.text_analytics import mask_pii
        except ImportError as exc:  # no masking, no verbatims: never show unmasked text
            raise data.NotBuilt(data.TEXT_INSIGHTS) from exc
        return data.verbatims(state.reader, mask_pii)

    @route("/verbatims", "verbatims_page", response_class=HTMLResponse)
    def verbatims_page(request: Request, user: user_for("verbatims_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(
            ("Verbatims", lambda: [_table("Latest comments and tickets (personal data masked)", masked_verbatims())])
        )
        return _render(request, "sections.html", {"title": "Verbatims", "sections": sections})

    @route("/api/verbatims", "verbatims_api")
    def verbatims_api(user: user_for("verbatims_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"verbatims": masked_verbatims()}

    # Cases (agents) -----------------------------------------------------------------------------------------------

    def queue_for(user: ConsoleUser, status: str | None) -> list[dict[str, Any]]:
        from cx.cases import CaseError, CaseNotFound, case_queue

        try:
            return state.cases_cached(
                ("queue", user.queue, status),
                lambda: _jsonable(case_queue(state.lake, queue=user.queue, status=status, limit=200)),
            )
        except CaseNotFound as exc:
            raise data.NotBuilt(data.layout.CX_CASES) from exc
        except CaseError as exc:
            raise ConsoleError(422, "invalid_request", str(exc)) from None

    def case_for(user: ConsoleUser, case_id: str) -> dict[str, Any]:
        from cx.cases import CaseNotFound, case_detail

        try:
            case = state.cases_cached(("case", case_id), lambda: case_detail(state.lake, case_id))
        except CaseNotFound as exc:
            raise ConsoleError(404, "case_not_found", str(exc)) from None
        if user.queue is not None and case.get("queue") != user.queue:
            log.warning("console: forbidden role=%s path=case outside the agent's queue", user.role)
            raise ConsoleError(403, "forbidden", f"this case is not in your queue ({user.queue})")
        customer_id = case.get("customer_id")
        contact = data.customer_contact(state.reader, customer_id) if customer_id else None
        history = data.customer_history(state.reader, customer_id) if customer_id else {}
        return {"case": _jsonable(case), "contact": _jsonable(contact), "history": history}

    case_columns = [
        "case_id",
        "trigger_name",
        "queue",
        "priority",
        "survey_type",
        "score",
        "status",
        "opened_at",
        "due_at",
        "is_overdue",
    ]

    @route("/cases", "cases_page", response_class=HTMLResponse)
    def cases_page(
        request: Request,
        user: user_for("cases_page"),  # type: ignore[valid-type]
        status: str | None = None,
    ) -> HTMLResponse:
        try:
            cases, missing = queue_for(user, status), None
        except data.NotBuilt as exc:
            cases, missing = [], str(exc)
        return _render(
            request,
            "cases.html",
            {"title": "Case queue", "cases": cases, "columns": case_columns, "missing": missing, "status": status},
        )

    @route("/api/cases", "cases_api")
    def cases_api(user: user_for("cases_api"), status: str | None = None) -> dict[str, Any]:  # type: ignore[valid-type]
        try:
            return {"cases": queue_for(user, status)}
        except data.NotBuilt as exc:
            raise ConsoleError(503, "not_built", str(exc)) from None

    @route("/cases/{case_id}", "case_page", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, user: user_for("case_page")) -> HTMLResponse:  # type: ignore[valid-type]
        found = case_for(user, case_id)
        return _render(
            request, "case.html", {"title": f"Case {case_id}", **found, "notice": request.session.pop("notice", None)}
        )

    @route("/api/cases/{case_id}", "case_api")
    def case_api(case_id: str, user: user_for("case_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return case_for(user, case_id)

    def act(user: ConsoleUser, case_id: str, status: str, note: str | None) -> dict[str, Any]:
        from cx.cases import CaseError, record_action

        case_for(user, case_id)  # exists and is in the agent's queue
        try:
            action = record_action(state.lake, case_id, status, note, actor=user.username, at=datetime.now(UTC))
        except CaseError as exc:
            raise ConsoleError(422, "invalid_action", str(exc)) from None
        return {
            "action_id": action.action_id,
            "case_id": case_id,
            "status": action.status,
            "acted_at": action.acted_at.isoformat(),
        }

    @route("/cases/{case_id}/action", "case_action_form", methods=("POST",))
    def case_action_form(
        request: Request,
        case_id: str,
        user: user_for("case_action_form"),  # type: ignore[valid-type]
        status: Annotated[str, Form()],
        note: Annotated[str, Form()] = "",
        csrf: Annotated[str | None, Form(alias="csrf_token")] = None,
    ) -> Response:
        check_csrf(request, csrf)
        try:
            act(user, case_id, status, note)
            request.session["notice"] = f"Recorded: case is now {status}."
        except ConsoleError as exc:
            if exc.status != 422:
                raise
            request.session["notice"] = f"Not recorded: {exc.message}"
        return RedirectResponse(str(request.url_for("case_page", case_id=case_id)), status_code=303)

    @route("/api/cases/{case_id}/actions", "case_action_api", methods=("POST",))
    async def case_action_api(request: Request, case_id: str, user: user_for("case_action_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        check_csrf(request, request.headers.get("x-csrf-token"))
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("status"), str):
            raise ConsoleError(422, "invalid_request", 'send JSON {"status": "contacted"|"resolved", "note": "..."}')
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(act, user, case_id, body["status"], body.get("note"))

    # Audiences and activation (marketers) -------------------------------------------------------------------------

    def rules() -> Any:
        from activation.rules import RulesError, load_rules

        try:
            return load_rules(settings.activation_rules)
        except RulesError as exc:
            raise ConsoleError(503, "activation_rules_invalid", str(exc)) from None

    def allowed_exports(audience: str) -> list[dict[str, str]]:
        """The exports the activation rules schedule for this audience in this environment: the only ones a
        marketer may trigger."""
        return [
            {"destination": e.destination, "mode": e.mode}
            for e in rules().exports
            if e.audience == audience and settings.env in e.environments
        ]

    def dry_run(audience: str) -> dict[str, Any]:
        """The activation engine's decisions for the audience now, cached for a minute (a dry run reads every input
        table: seconds), and dropped when an export is triggered from here."""
        send_time = settings.observation_time()
        key = (audience, send_time.replace(second=0, microsecond=0))
        with state.dry_run_lock:  # concurrent viewers of one audience wait for one dry run, not start their own
            found = state.dry_runs.get(key)
            if found is None:
                found = compute_dry_run(audience, send_time)
                state.dry_runs = {k: v for k, v in state.dry_runs.items() if k[1] == key[1]}  # older minutes: stale
                state.dry_runs[key] = found
        return found

    def compute_dry_run(audience: str, send_time: datetime) -> dict[str, Any]:
        from activation.destinations import build_destination
        from activation.export import export_audience
        from activation.inputs import AudienceNotFound, LakeNotReady

        the_rules = rules()
        exports = allowed_exports(audience)
        name = exports[0]["destination"] if exports else next(iter(the_rules.destinations))
        destination = build_destination(
            name,
            the_rules.destinations[name],
            exports_dir=state.lake.exports_dir(),
            postgres_url=settings.postgres_url,
            webhook_url="http://dry-run.invalid",
        )
        try:
            report = export_audience(state.lake, the_rules, audience, destination, send_time=send_time, dry_run=True)
        except AudienceNotFound as exc:
            raise ConsoleError(404, "audience_not_found", str(exc)) from None
        except LakeNotReady as exc:
            raise ConsoleError(503, "not_built", str(exc)) from None
        from activation.explain import readable

        reasons = [
            {"decision": "send" if r == "eligible" else "suppress", "reason": r, "meaning": readable(r), "people": n}
            for r, n in sorted(report.counts.items(), key=lambda kv: -kv[1])
        ]
        return {
            "audience": audience,
            "members": report.members,
            "decisions": report.decisions,
            "reasons": reasons,
            "exports": exports,
            "send_time": send_time.isoformat(),
        }

    def export(user: ConsoleUser, audience: str, destination_name: str) -> dict[str, Any]:
        from activation.destinations import build_destination
        from activation.export import export_audience

        planned = next((e for e in allowed_exports(audience) if e["destination"] == destination_name), None)
        if planned is None:
            log.warning("console: refused export role=%s path=/audiences/export (not scheduled)", user.role)
            raise ConsoleError(
                403,
                "export_not_allowed",
                f"the activation rules schedule no export of {audience} to {destination_name} in {settings.env}",
            )
        the_rules = rules()
        try:
            destination = build_destination(
                destination_name,
                the_rules.destinations[destination_name],
                exports_dir=state.lake.exports_dir(),
                postgres_url=settings.postgres_url,
                webhook_url=settings.activation_webhook_url,
            )
        except ValueError as exc:
            raise ConsoleError(503, "destination_unavailable", str(exc)) from None
        report = export_audience(
            state.lake,
            the_rules,
            audience,
            destination,
            mode=planned["mode"],  # type: ignore[arg-type]
            send_time=settings.observation_time(),
            run_by=f"console:{user.username}",
        )
        state.dry_runs.clear()  # the export changed caps and deliveries: dry runs are recomputed
        return {
            "sync_id": report.sync_id,
            "status": report.status,
            "members": report.members,
            "sent": report.decisions["send"],
            "upserts": report.upserts,
            "removals": report.removals,
        }

    @route("/audiences", "audiences_page", response_class=HTMLResponse)
    def audiences_page(request: Request, user: user_for("audiences_page")) -> HTMLResponse:  # type: ignore[valid-type]
        sections = _sections(("Audience sizes", segment_sections))
        return _render(
            request,
            "audiences.html",
            {"title": "Audiences", "sections": sections, "audiences": _safe(lambda: data.audiences(state.reader))},
        )

    @route("/api/audiences", "audiences_api")
    def audiences_api(user: user_for("audiences_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"audiences": data.audiences(state.reader), "sizes": data.audience_sizes(state.reader)}

    @route("/audiences/{name}", "audience_page", response_class=HTMLResponse)
    def audience_page(request: Request, name: str, user: user_for("audience_page")) -> HTMLResponse:  # type: ignore[valid-type]
        return _render(
            request,
            "audience.html",
            {"title": f"Audience {name}", "dry_run": dry_run(name), "notice": request.session.pop("notice", None)},
        )

    @route("/api/audiences/{name}/dry-run", "audience_dry_run_api")
    def audience_dry_run_api(name: str, user: user_for("audience_dry_run_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return dry_run(name)

    @route("/audiences/{name}/export", "audience_export_form", methods=("POST",))
    def audience_export_form(
        request: Request,
        name: str,
        user: user_for("audience_export_form"),  # type: ignore[valid-type]
        destination: Annotated[str, Form()],
        csrf: Annotated[str | None, Form(alias="csrf_token")] = None,
    ) -> Response:
        check_csrf(request, csrf)
        result = export(user, name, destination)
        request.session["notice"] = (
            f"Export {result['sync_id']} {result['status']}: {result['sent']:,} sent, "
            f"{result['upserts']:,} upserts, {result['removals']:,} removals."
        )
        return RedirectResponse(str(request.url_for("audience_page", name=name)), status_code=303)

    @route("/api/audiences/{name}/exports", "audience_export_api", methods=("POST",))
    async def audience_export_api(request: Request, name: str, user: user_for("audience_export_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        check_csrf(request, request.headers.get("x-csrf-token"))
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("destination"), str):
            raise ConsoleError(422, "invalid_request", 'send JSON {"destination": "<name from the rules file>"}')
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(export, user, name, body["destination"])

    # Users (admin) ------------------------------------------------------------------------------------------------

    def user_rows() -> list[dict[str, Any]]:
        return [
            {
                "username": u.username,
                "role": u.role,
                "queue": u.queue or "",
                "permissions": ", ".join(sorted(ROLE_PERMISSIONS[u.role])),
            }
            for u in sorted(state.users.values(), key=lambda u: u.username)
        ]

    @route("/users", "users_page", response_class=HTMLResponse)
    def users_page(request: Request, user: user_for("users_page")) -> HTMLResponse:  # type: ignore[valid-type]
        return _render(request, "sections.html", {"title": "Users", "sections": [_table("Console users", user_rows())]})

    @route("/api/users", "users_api")
    def users_api(user: user_for("users_api")) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"users": user_rows()}

    return app


def _safe(read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    try:
        return read()
    except data.NotBuilt:
        return []


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def mount_console(app: FastAPI, settings: Settings, path: str = "/console") -> FastAPI:
    """Mount the console on an app (``cdp serve`` mounts it beside the profile API)."""
    app.mount(path, create_console_app(settings))
    return app
