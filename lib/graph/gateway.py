"""The Graph gateway: the only code in the console that talks HTTP to Microsoft Graph.

``AsyncGraph`` lives on one event loop (the SDK is loop-bound); ``GraphGateway`` is the sync facade
that pages, the CLI and worker threads use: it runs ``AsyncGraph`` coroutines on a
:class:`~lib.graph.loop.LoopThread` and blocks for the answer.

One httpx client (msgraph-core's Graph transport with an explicit middleware list) and one kiota
request adapter serve both API versions: typed v1.0 calls go through ``GraphServiceClient``; beta,
``$batch`` and raw JSON go through the same adapter as a ``RequestInformation`` with an absolute
URL and a native response handler (so no 680 MB beta SDK).

Middleware decision: kiota's ``RetryHandler`` is left out. It never looks inside a ``$batch`` (so it
cannot retry items), it retries only 3 times, reads ``Retry-After`` with ``int()`` (fractional
seconds fall back to its own backoff), sleeps invisibly (no cancellation, no progress, no stats),
and stacked under our per-item retries it would multiply attempts (3 x 8). All retrying happens
here, honouring ``Retry-After``, counted in ``stats`` and cancellable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from azure.core.credentials import AccessToken
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.method import Method
from kiota_abstractions.native_response_handler import NativeResponseHandler
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware import (
    BaseMiddleware,
    HeadersInspectionHandler,
    ParametersNameDecodingHandler,
    RedirectHandler,
    UrlReplaceHandler,
    UserAgentHandler,
)
from kiota_http.middleware.options import ResponseHandlerOption, UrlReplaceHandlerOption
from msgraph_core import APIVersion, GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from lib.graph import state_read
from lib.graph.answers import json_answer
from lib.graph.batch import (
    PACED_CLASSES,
    BatchExecutor,
    BatchItem,
    BatchReport,
    CancelLike,
    ItemResult,
    ProgressCallback,
    ResultCallback,
    Throttle,
    throttle_class,
)
from lib.graph.errors import (
    CredentialError,
    GraphError,
    MalformedResponse,
    OperationCancelled,
    error_from_exception,
    error_from_response,
    parse_retry_after,
    redact,
)
from lib.graph.loop import LoopThread, default_loop
from lib.graph.options import GatewayOptions
from lib.graph.state_read import StateRead
from lib.graph.stats import GraphStats, counted_request

__all__ = [
    "DEFAULT_USER_SELECT",
    "MFA_STATES",
    "AsyncGraph",
    "GraphGateway",
    "normalize_base_url",
]

log = logging.getLogger("lib.graph")
T = TypeVar("T")

GRAPH_URL = "https://graph.microsoft.com"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
MFA_STATES: tuple[str, ...] = ("disabled", "enabled", "enforced")
DEFAULT_USER_SELECT: tuple[str, ...] = (
    "id", "displayName", "userPrincipalName", "mail", "userType", "accountEnabled", "department",
    "jobTitle", "usageLocation", "createdDateTime", "onPremisesSyncEnabled", "assignedLicenses",
)
REGISTRATION_PATH = "/reports/authenticationMethods/userRegistrationDetails"
ROLES_PATH = "/me/transitiveMemberOf/microsoft.graph.directoryRole"


def _check_credential(credential: Any) -> None:
    if credential is None or not callable(getattr(credential, "get_token", None)):
        raise ValueError("credential must have a get_token(*scopes, **kwargs) method")


def normalize_base_url(base_url: str) -> str:
    """The Graph root (scheme://host[:port][/prefix]) without a trailing slash or API version.

    Raises ValueError for anything but https, or plain http on a loopback host (kiota's rule).
    """
    if not base_url or not isinstance(base_url, str):
        raise ValueError("base_url is required, e.g. https://graph.microsoft.com")
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if url.scheme == "http" and url.host not in LOOPBACK_HOSTS:
        raise ValueError(f"base_url must use https (plain http only on loopback), got {base_url!r}")
    if url.query or url.fragment:
        raise ValueError(f"base_url must not carry a query or fragment, got {base_url!r}")
    path = url.path.rstrip("/")
    for version in ("/v1.0", "/beta"):
        if path.endswith(version):
            path = path[: -len(version)]
    return str(url.copy_with(path=path or "/")).rstrip("/")


def _segment(value: str) -> str:
    """A user id or UPN as one URL path segment (``#EXT#`` in guest UPNs must be escaped)."""
    if not value or not isinstance(value, str):
        raise ValueError(f"user id must be a non-empty string, got {value!r}")
    return quote(value, safe="@")


_QUERY_SAFE = "$,()'=:/@*"


def _query(params: Mapping[str, Any] | None) -> str:
    if not params:
        return ""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{key}={quote(str(value), safe=_QUERY_SAFE)}")
    return "&".join(parts)


class _CredentialTokenProvider(AccessTokenProvider):
    """Asks the credential for a token in a worker thread (MSAL blocks) and caches it until near expiry.

    Never attaches a token to a host other than the gateway's.
    """

    REFRESH_MARGIN_S = 120

    def __init__(self, credential: Any, scopes: tuple[str, ...], host: str) -> None:
        self._credential = credential
        self._scopes = scopes
        self._validator = AllowedHostsValidator([host])
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._token = None

    def _fresh(self) -> bool:
        return self._token is not None and self._token.expires_on - self.REFRESH_MARGIN_S > time.time()

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        if not self._validator.is_url_host_valid(uri):
            return ""
        claims = (additional_authentication_context or {}).get("claims")
        if self._fresh() and not claims:
            return self._token.token  # type: ignore[union-attr]
        async with self._lock:
            if self._fresh() and not claims:
                return self._token.token  # type: ignore[union-attr]
            kwargs = {"claims": claims} if claims else {}
            try:
                result = await asyncio.to_thread(self._credential.get_token, *self._scopes, **kwargs)
                if asyncio.iscoroutine(result):
                    result = await result
            except GraphError:
                raise
            except Exception as exc:
                raise CredentialError(f"the credential could not get a token: {redact(str(exc))}") from exc
            if not isinstance(result, AccessToken) or not result.token:
                raise CredentialError("the credential returned no access token")
            self._token = result
            return result.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator


class _StatsHandler(BaseMiddleware):
    """Last middleware before the wire: counts every HTTP request (typed, raw, batch) and its time."""

    def __init__(self, stats: GraphStats) -> None:
        super().__init__()
        self.stats = stats

    async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
        self.stats.requests += 1
        counted_request()
        started = time.monotonic()
        try:
            return await super().send(request, transport)
        finally:
            self.stats.http_seconds += time.monotonic() - started


class AsyncGraph:
    """The async gateway. Create and await it only on one event loop (see ``GraphGateway``)."""

    def __init__(
        self,
        base_url: str,
        credential: Any,
        options: GatewayOptions | None = None,
        *,
        stats: GraphStats | None = None,
    ) -> None:
        _check_credential(credential)
        self.options = options or GatewayOptions()
        self.root = normalize_base_url(base_url)
        self.stats = stats or GraphStats()
        self._loop = asyncio.get_running_loop()
        host = httpx.URL(self.root).host
        self._token_provider = _CredentialTokenProvider(credential, self.options.scopes, host)
        auth = BaseBearerTokenAuthenticationProvider(self._token_provider)
        opts = self.options
        client = httpx.AsyncClient(
            base_url=f"{self.root}/v1.0",
            timeout=httpx.Timeout(opts.timeout_s, connect=opts.connect_timeout_s),
            limits=httpx.Limits(max_connections=max(10, opts.max_concurrency * 2),
                                max_keepalive_connections=max(10, opts.max_concurrency * 2)),
            http2=opts.http2,
            trust_env=opts.trust_env,
            verify=opts.verify,
        )
        middleware: list[BaseMiddleware] = [
            RedirectHandler(),
            ParametersNameDecodingHandler(),
            UrlReplaceHandler(options=UrlReplaceHandlerOption(
                enabled=True, replacement_pairs={"/users/me-token-to-replace": "/me"})),
            UserAgentHandler(),
            HeadersInspectionHandler(),
            GraphTelemetryHandler(options=GraphTelemetryHandlerOption(api_version=APIVersion.v1)),
            _StatsHandler(self.stats),
        ]
        self.http = GraphClientFactory.create_with_custom_middleware(middleware, client=client)
        from msgraph import GraphServiceClient
        from msgraph.graph_request_adapter import GraphRequestAdapter

        self.adapter = GraphRequestAdapter(auth, client=self.http)
        # httpx keeps base_url with a trailing slash; kiota's templates add their own ("{+baseurl}/users").
        self.adapter.base_url = f"{self.root}/v1.0"
        self.client = GraphServiceClient(request_adapter=self.adapter)
        """Typed v1.0 client (msgraph-sdk); await its calls on this gateway's loop."""
        self.throttle = Throttle(opts.max_concurrency, opts.adaptive)
        self._semaphore = asyncio.Semaphore(opts.max_concurrency)

    # ------------------------------------------------------------------ plumbing

    def _check_loop(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:
            raise RuntimeError(
                "this Graph gateway is bound to its own event loop thread; call the GraphGateway "
                "methods (or gateway.submit(...)) instead of awaiting AsyncGraph on another loop"
            )

    def url(self, path: str, version: str = "v1.0", params: Mapping[str, Any] | None = None) -> str:
        """Absolute URL of ``path`` (relative to the version root) with ``params`` as the query."""
        if version not in ("v1.0", "beta"):
            raise ValueError(f"version must be 'v1.0' or 'beta', got {version!r}")
        if not path.startswith("/") and "://" not in path:
            path = "/" + path
        url = path if "://" in path else f"{self.root}/{version}{path}"
        query = _query(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        return url

    def _relative(self, url: str) -> str:
        """``url`` without the root and the API version (for throttle classes)."""
        rest = url[len(self.root):] if url.startswith(self.root) else httpx.URL(url).path
        for version in ("/v1.0", "/beta"):
            if rest.startswith(version + "/") or rest.startswith(version + "?"):
                return rest[len(version):]
        return rest

    def batch_url(self, version: str) -> str:
        return self.url("/$batch", version)

    async def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One HTTP request through the kiota adapter (auth, middleware), no retry; raw answer back.

        Raises httpx.TransportError when no answer came, CredentialError when no token could be had.
        """
        self._check_loop()
        info = RequestInformation()
        info.http_method = Method(method.upper())
        info.url = url
        info.headers.try_add("Accept", "application/json")
        for key, value in (headers or {}).items():
            info.headers.add(key, value)
        if content is not None:
            info.content = content
        info.add_request_options([ResponseHandlerOption(NativeResponseHandler())])
        response: httpx.Response = await self.adapter.send_primitive_async(info, "bytes", None)
        if response.status_code == 401:
            self._token_provider.invalidate()
        return response

    async def post_batch(self, version: str, payload: bytes) -> httpx.Response:
        """POST one ``$batch`` envelope (no retry: the executor retries items)."""
        return await self.send("POST", self.batch_url(version), content=payload,
                               headers={"Content-Type": "application/json"})

    async def _sleep(self, seconds: float, cancel: CancelLike | None) -> None:
        if seconds <= 0:
            return
        self.stats.wait_seconds += seconds
        deadline = time.monotonic() + seconds
        while True:
            if cancel is not None and cancel.is_set():
                raise OperationCancelled()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.05) if cancel is not None else left)

    async def request(
        self,
        method: str,
        path: str,
        *,
        version: str = "v1.0",
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        cancel: CancelLike | None = None,
    ) -> httpx.Response:
        """One request with retries (429 after its Retry-After, 5xx and transport failures with
        backoff); returns a 2xx answer or raises the matching ``GraphError``."""
        response, _ = await self._exchange(method, path, version=version, params=params, json_body=json_body,
                                           headers=headers, cancel=cancel, parse=False)
        return response

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        version: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        cancel: CancelLike | None,
        parse: bool,
    ) -> tuple[httpx.Response, Any]:
        """``request``'s loop. With ``parse``, a 2xx that is not Graph's JSON (cut off, an HTML page, an
        error body: :func:`lib.graph.answers.json_answer`) is retried like a 5xx, and the parsed body
        comes back with the answer."""
        self._check_loop()
        url = self.url(path, version, params)
        cls = throttle_class(method, self._relative(url))
        content = None
        send_headers = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            send_headers.setdefault("Content-Type", "application/json")
        retry = self.options.retry
        failures = throttled = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise OperationCancelled(url=url)
            await self._sleep(self.throttle.gate(cls) - time.monotonic(), cancel)
            if (interval := PACED_CLASSES.get(cls)) is not None:
                while (wait := self.throttle.gate(cls) - time.monotonic()) > 0:  # another request took the slot
                    await self._sleep(wait, cancel)
                self.throttle.pace(cls, interval)
            async with self._semaphore:
                try:
                    response = await self.send(method, url, content=content, headers=send_headers)
                except httpx.TransportError as exc:
                    error: GraphError = error_from_exception(exc, method=method, url=url)
                    response = None
            if response is not None:
                status = response.status_code
                if status < 400 and not parse:
                    return response, None
                if status < 400:
                    try:
                        return response, json_answer(status, response.content, response.headers, url=url)
                    except MalformedResponse as broken:
                        error = broken
                        response = None
            if response is not None:
                error = error_from_response(status, response.content, response.headers,
                                            method=method, url=url)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if status == 429:
                    throttled += 1
                    self.stats.throttled += 1
                    wait = retry.honour(retry_after) if retry_after is not None else retry.backoff(throttled)
                    wait = max(wait, PACED_CLASSES.get(cls, 0.0))
                    self.throttle.throttled(cls, wait)
                    if throttled > retry.max_throttled:
                        raise error
                    self.stats.retries += 1
                    await self._sleep(wait, cancel)
                    continue
                if status not in retry.retry_statuses:
                    raise error
                delay = retry.honour(retry_after) if retry_after is not None else None
            else:
                delay = None
            self.stats.faults += 1
            failures += 1
            if failures >= retry.max_attempts:
                raise error
            self.stats.retries += 1
            await self._sleep(delay if delay is not None else retry.backoff(failures), cancel)

    async def get_json(
        self,
        path: str,
        *,
        version: str = "v1.0",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        cancel: CancelLike | None = None,
    ) -> Any:
        """GET ``path`` and return its JSON body (``MalformedResponse`` once every retry got no JSON)."""
        _, body = await self._exchange("GET", path, version=version, params=params, json_body=None,
                                       headers=headers, cancel=cancel, parse=True)
        return body

    async def patch_json(
        self,
        path: str,
        body: Any,
        *,
        version: str = "v1.0",
        cancel: CancelLike | None = None,
    ) -> Any:
        """PATCH ``path`` with the JSON ``body``; the answer's JSON (Graph answers some PATCHes 200 with the
        object, most 204: then None). Only for PATCHes that set absolute values, since a retry resends it."""
        response = await self.request("PATCH", path, version=version, json_body=body, cancel=cancel)
        if response.status_code == 204 or not response.content:
            return None
        return json_answer(response.status_code, response.content, response.headers, url=str(response.url))

    async def iter_pages(
        self,
        path: str,
        *,
        version: str = "v1.0",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        cancel: CancelLike | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each page's ``value`` list, following the whole ``@odata.nextLink`` to the end."""
        url = self.url(path, version, params)
        pages = 0
        while url:
            body = await self.get_json(url, version=version, headers=headers, cancel=cancel)
            pages += 1
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(value, list):
                raise MalformedResponse(f"page {pages} has no 'value' list", url=url)
            yield value
            next_link = body.get("@odata.nextLink")
            ours = isinstance(next_link, str) and next_link.startswith(self.root + "/")
            if next_link is not None and not ours:
                raise MalformedResponse(f"page {pages} has a nextLink outside {self.root}: {next_link!r}",
                                        url=url)
            url = next_link

    async def list_json(
        self,
        path: str,
        *,
        version: str = "v1.0",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        cancel: CancelLike | None = None,
    ) -> list[dict[str, Any]]:
        """Every row of a paged collection, as dicts."""
        rows: list[dict[str, Any]] = []
        pages = self.iter_pages(path, version=version, params=params, headers=headers, cancel=cancel)
        async for page in pages:
            rows.extend(page)
        return rows

    async def typed(self, call: Callable[[], Awaitable[T]], *, what: str = "Graph",
                    cancel: CancelLike | None = None) -> T:
        """Await a typed msgraph-sdk call with the gateway's retries and error mapping.

        ``call`` is a zero-argument function returning a fresh coroutine (it may be called again).
        """
        self._check_loop()
        retry = self.options.retry
        failures = throttled = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise OperationCancelled()
            await self._sleep(self.throttle.gate("read") - time.monotonic(), cancel)
            try:
                async with self._semaphore:
                    return await call()
            except httpx.TransportError as exc:
                error = error_from_exception(exc, url=self.root)
                status, retry_after = None, None
            except APIError as exc:
                error = error_from_exception(exc, url=f"{self.root} ({what})")
                status = error.status
                headers = getattr(exc, "response_headers", None)
                retry_after = parse_retry_after(headers.get("Retry-After")) if headers is not None else None
                if status == 401:
                    self._token_provider.invalidate()
            if status == 429:
                throttled += 1
                self.stats.throttled += 1
                wait = retry.honour(retry_after) if retry_after is not None else retry.backoff(throttled)
                self.throttle.throttled("read", wait)
                if throttled > retry.max_throttled:
                    raise error
                self.stats.retries += 1
                await self._sleep(wait, cancel)
                continue
            if status is not None and status not in retry.retry_statuses:
                raise error
            self.stats.faults += 1
            failures += 1
            if failures >= retry.max_attempts:
                raise error
            self.stats.retries += 1
            delay = retry.honour(retry_after) if retry_after is not None else retry.backoff(failures)
            await self._sleep(delay, cancel)

    async def execute(
        self,
        items: Iterable[BatchItem],
        *,
        version: str = "v1.0",
        on_result: ResultCallback | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelLike | None = None,
    ) -> BatchReport:
        """Run work items through ``$batch`` (see :mod:`lib.graph.batch`)."""
        self._check_loop()
        executor = BatchExecutor(
            self,
            version=version,
            retry=self.options.retry,
            throttle=self.throttle,
            stats=self.stats,
            max_concurrency=self.options.max_concurrency,
        )
        return await executor.run(items, on_result=on_result, on_progress=on_progress, cancel=cancel)

    # ------------------------------------------------------------------ convenience reads

    async def me(self, select: Iterable[str] | None = None) -> dict[str, Any]:
        """``GET /v1.0/me`` (delegated tokens only; app-only tokens get 400/403 from Graph)."""
        params = {"$select": list(select)} if select else None
        return await self.get_json("/me", params=params)

    async def organization(self) -> dict[str, Any]:
        """The tenant: ``GET /v1.0/organization`` first (only) row: ``id``, ``displayName``, …"""
        rows = await self.list_json("/organization")
        if not rows:
            raise MalformedResponse("GET /organization returned no tenant", url=self.url("/organization"))
        return rows[0]

    async def my_directory_roles(self) -> list[dict[str, Any]]:
        """The signed-in admin's directory roles (transitive), each with ``roleTemplateId``."""
        return await self.list_json(ROLES_PATH, headers={"ConsistencyLevel": "eventual"})

    async def list_users(
        self,
        select: Iterable[str] = DEFAULT_USER_SELECT,
        *,
        typed: bool = False,
        filter: str | None = None,
        cancel: CancelLike | None = None,
    ) -> list[Any]:
        """All users with ``$select`` (``$top`` = ``options.page_size``), every page.

        ``typed=False`` gives dict rows (lean: what the directory snapshot wants at 100k users);
        ``typed=True`` gives msgraph ``User`` models through the SDK's request builders.
        """
        select = list(select)
        if typed:
            return await self._list_users_typed(select, filter, cancel)
        params: dict[str, Any] = {"$select": select, "$top": self.options.page_size}
        if filter:
            params["$filter"] = filter
        return await self.list_json("/users", params=params, cancel=cancel)

    async def _list_users_typed(
        self, select: list[str], filter: str | None, cancel: CancelLike | None
    ) -> list[Any]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=select or None, top=self.options.page_size, filter=filter)
        config = RequestConfiguration(query_parameters=query)
        users = self.client.users
        page = await self.typed(lambda: users.get(request_configuration=config), what="GET /users",
                                cancel=cancel)
        rows: list[Any] = []
        while page is not None:
            rows.extend(page.value or [])
            next_link = page.odata_next_link
            if not next_link:
                break
            if not next_link.startswith(self.root + "/"):
                raise MalformedResponse(f"nextLink outside {self.root}: {next_link!r}",
                                        url=self.url("/users"))
            page = await self.typed(lambda link=next_link: users.with_url(link).get(), what="GET /users",
                                    cancel=cancel)
        return rows

    async def list_registration_details(
        self,
        *,
        select: Iterable[str] | None = None,
        filter: str | None = None,
        cancel: CancelLike | None = None,
    ) -> list[dict[str, Any]]:
        """Every ``userRegistrationDetails`` row (needs Entra ID P1: raises ``NoPremiumLicense``)."""
        params: dict[str, Any] = {"$top": self.options.page_size}
        if select:
            params["$select"] = list(select)
        if filter:
            params["$filter"] = filter
        return await self.list_json(REGISTRATION_PATH, params=params, cancel=cancel)

    async def read_mfa_states(
        self,
        user_ids: Iterable[str],
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelLike | None = None,
    ) -> dict[str, str | GraphError]:
        """Per-user MFA state of each user (beta ``$batch`` GETs of ``authentication/requirements``).

        Returns ``{user_id: "disabled"|"enabled"|"enforced"|other-string-Graph-sent | GraphError}`` in
        input order; an item that failed for good (or was cancelled) maps to its ``GraphError``. Raises
        the error instead when Graph refused the whole read (401/403 on the envelope, no token).
        """
        ids = _unique(user_ids)
        items = [BatchItem(uid, "GET", f"/users/{_segment(uid)}/authentication/requirements") for uid in ids]
        report = await self.execute(items, version="beta", on_progress=on_progress, cancel=cancel)
        _raise_if_aborted(report)
        out: dict[str, str | GraphError] = {}
        for result in report.results:
            if result.ok:
                state = result.body.get("perUserMfaState") if isinstance(result.body, dict) else None
                out[result.key] = state if isinstance(state, str) else MalformedResponse(
                    "authentication/requirements answer has no perUserMfaState", status=result.status)
            else:
                out[result.key] = _error_of(result)
        return out

    async def read_states(
        self,
        user_ids: Iterable[str],
        *,
        tenant_size: int | None = None,
        cancel: CancelLike | None = None,
        on_progress: state_read.UsersRead | None = None,
    ) -> tuple[dict[str, str | GraphError], StateRead]:
        """Like :meth:`read_mfa_states`, from the users listing when Graph serves the state there and a
        sample agrees with ``authentication/requirements`` (:mod:`lib.graph.state_read`); also says how."""
        return await state_read.read_states(self, user_ids, tenant_size=tenant_size, cancel=cancel,
                                            on_progress=on_progress)

    async def read_auth_methods(
        self,
        user_ids: Iterable[str],
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelLike | None = None,
    ) -> dict[str, list[dict[str, Any]] | GraphError]:
        """Each user's authentication methods (v1.0 ``$batch`` GETs).

        Returns ``{user_id: [method dict, …] | GraphError}``; raises like :meth:`read_mfa_states`.
        """
        ids = _unique(user_ids)
        items = [BatchItem(uid, "GET", f"/users/{_segment(uid)}/authentication/methods") for uid in ids]
        report = await self.execute(items, version="v1.0", on_progress=on_progress, cancel=cancel)
        _raise_if_aborted(report)
        out: dict[str, list[dict[str, Any]] | GraphError] = {}
        for result in report.results:
            if not result.ok:
                out[result.key] = _error_of(result)
                continue
            body = result.body
            if isinstance(body, str):  # a base64 body (non-JSON content type)
                try:
                    body = json.loads(base64.b64decode(body))
                except ValueError:
                    body = None
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(value, list):
                out[result.key] = MalformedResponse("authentication/methods answer has no 'value' list",
                                                    status=result.status)
                continue
            methods = list(value)
            next_link = body.get("@odata.nextLink")
            if next_link:
                try:
                    methods += await self.list_json(next_link, cancel=cancel)
                except GraphError as exc:
                    out[result.key] = exc
                    continue
            out[result.key] = methods
        return out

    # ------------------------------------------------------------------ convenience writes

    async def write_mfa_states(
        self,
        changes: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        on_result: ResultCallback | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelLike | None = None,
    ) -> BatchReport:
        """Set per-user MFA state (beta ``$batch`` PATCHes of ``authentication/requirements``).

        ``changes`` maps user id → ``disabled|enabled|enforced``. Each item's result (key = user
        id, ``ok`` on 204) goes to ``on_result`` as it returns; the report holds them all.
        """
        pairs = list(changes.items()) if isinstance(changes, Mapping) else list(changes)
        items = []
        seen: set[str] = set()
        for uid, state in pairs:
            if state not in MFA_STATES:
                raise ValueError(f"perUserMfaState must be one of {MFA_STATES}, got {state!r} for {uid!r}")
            if uid in seen:
                raise ValueError(f"user {uid!r} appears twice in one write")
            seen.add(uid)
            items.append(BatchItem(uid, "PATCH", f"/users/{_segment(uid)}/authentication/requirements",
                                   body={"perUserMfaState": state},
                                   headers={"Content-Type": "application/json"}))
        return await self.execute(items, version="beta", on_result=on_result, on_progress=on_progress,
                                  cancel=cancel)

    async def aclose(self) -> None:
        await self.http.aclose()


def _raise_if_aborted(report: BatchReport) -> None:
    """A read that Graph refused as a whole (401/403 on the envelope, no token) raises that error."""
    if report.abort_error is not None:
        raise report.abort_error


def _error_of(result: ItemResult) -> GraphError:
    if result.error is not None:
        return result.error
    if result.outcome == "cancelled":
        return OperationCancelled()
    return error_from_response(result.status or 0, result.body, result.headers)


def _unique(user_ids: Iterable[str]) -> list[str]:
    if isinstance(user_ids, str):
        raise TypeError("user_ids must be an iterable of ids, not a single string")
    seen: dict[str, None] = {}
    for uid in user_ids:
        if not isinstance(uid, str) or not uid:
            raise ValueError(f"user id must be a non-empty string, got {uid!r}")
        seen.setdefault(uid, None)
    return list(seen)


class GraphGateway:
    """Sync facade over :class:`AsyncGraph`, bound to one :class:`LoopThread` (the process default).

    >>> gw = GraphGateway("https://graph.microsoft.com", credential)          # doctest: +SKIP
    >>> users = gw.list_users(["id", "userPrincipalName"])                      # doctest: +SKIP
    >>> states = gw.read_mfa_states(u["id"] for u in users)                     # doctest: +SKIP

    Every method blocks the calling thread (never call them from the loop thread: from there,
    await ``gw.aio``'s coroutines). ``submit(coro)`` schedules any ``gw.aio`` coroutine and returns a
    ``concurrent.futures.Future``. Callbacks (``on_result``, ``on_progress``) run on the loop thread.
    """

    def __init__(
        self,
        base_url: str,
        credential: Any,
        *,
        options: GatewayOptions | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        normalize_base_url(base_url)  # fail early, on the caller's thread
        _check_credential(credential)
        self.loop = loop or default_loop()
        self.options = options or GatewayOptions()
        self.stats = GraphStats()

        async def build() -> AsyncGraph:
            return AsyncGraph(base_url, credential, self.options, stats=self.stats)

        self.aio: AsyncGraph = self.loop.run(build())
        self.base_url = self.aio.root
        self._closed = False

    def submit(self, coro: Any) -> Any:
        """Schedule a coroutine (typically ``gw.aio.something(...)``) on the gateway's loop."""
        return self.loop.submit(coro)

    def _run(self, coro: Any) -> Any:
        if self._closed:
            coro.close()
            raise RuntimeError("this GraphGateway is closed")
        return self.loop.run(coro)

    # the sync API mirrors AsyncGraph

    def get_json(self, path: str, *, version: str = "v1.0", params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, cancel: CancelLike | None = None) -> Any:
        return self._run(self.aio.get_json(path, version=version, params=params, headers=headers,
                                           cancel=cancel))

    def patch_json(self, path: str, body: Any, *, version: str = "v1.0", cancel: CancelLike | None = None) -> Any:
        return self._run(self.aio.patch_json(path, body, version=version, cancel=cancel))

    def list_json(
        self, path: str, *, version: str = "v1.0", params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None, cancel: CancelLike | None = None,
    ) -> list[dict[str, Any]]:
        return self._run(self.aio.list_json(path, version=version, params=params, headers=headers,
                                            cancel=cancel))

    def execute(self, items: Iterable[BatchItem], *, version: str = "v1.0",
                on_result: ResultCallback | None = None, on_progress: ProgressCallback | None = None,
                cancel: CancelLike | None = None) -> BatchReport:
        return self._run(self.aio.execute(list(items), version=version, on_result=on_result,
                                          on_progress=on_progress, cancel=cancel))

    def me(self, select: Iterable[str] | None = None) -> dict[str, Any]:
        return self._run(self.aio.me(select))

    def organization(self) -> dict[str, Any]:
        return self._run(self.aio.organization())

    def my_directory_roles(self) -> list[dict[str, Any]]:
        return self._run(self.aio.my_directory_roles())

    def list_users(self, select: Iterable[str] = DEFAULT_USER_SELECT, *, typed: bool = False,
                   filter: str | None = None, cancel: CancelLike | None = None) -> list[Any]:
        return self._run(self.aio.list_users(list(select), typed=typed, filter=filter, cancel=cancel))

    def list_registration_details(self, *, select: Iterable[str] | None = None, filter: str | None = None,
                                  cancel: CancelLike | None = None) -> list[dict[str, Any]]:
        return self._run(self.aio.list_registration_details(select=select, filter=filter, cancel=cancel))

    def read_mfa_states(self, user_ids: Iterable[str], *, on_progress: ProgressCallback | None = None,
                        cancel: CancelLike | None = None) -> dict[str, str | GraphError]:
        return self._run(self.aio.read_mfa_states(list(user_ids), on_progress=on_progress, cancel=cancel))

    def read_states(self, user_ids: Iterable[str], *, tenant_size: int | None = None,
                    cancel: CancelLike | None = None, on_progress: state_read.UsersRead | None = None,
                    ) -> tuple[dict[str, str | GraphError], StateRead]:
        return self._run(self.aio.read_states(list(user_ids), tenant_size=tenant_size, cancel=cancel,
                                              on_progress=on_progress))

    def read_auth_methods(self, user_ids: Iterable[str], *, on_progress: ProgressCallback | None = None,
                          cancel: CancelLike | None = None) -> dict[str, list[dict[str, Any]] | GraphError]:
        return self._run(self.aio.read_auth_methods(list(user_ids), on_progress=on_progress, cancel=cancel))

    def write_mfa_states(self, changes: Mapping[str, str] | Iterable[tuple[str, str]], *,
                         on_result: ResultCallback | None = None, on_progress: ProgressCallback | None = None,
                         cancel: CancelLike | None = None) -> BatchReport:
        pairs = dict(changes) if isinstance(changes, Mapping) else list(changes)
        return self._run(self.aio.write_mfa_states(pairs, on_result=on_result, on_progress=on_progress,
                                                   cancel=cancel))

    def close(self) -> None:
        """Close the HTTP client (the loop thread is shared and stays up). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.loop.running:
            self.loop.run(self.aio.aclose())

    def __enter__(self) -> GraphGateway:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GraphGateway({self.base_url!r})"

