"""The :class:`Emulator`: YourGPT's API, both families, imitated in memory with aiohttp.

It owns serving (the app, its routes, start and stop), the record of requests and the counts read
from it, and the request cycle: the ``FaultPlan`` first, then the API key and the rate limit, then
the endpoint. What it stores is in ``_state``, the endpoints in ``_handlers``, the limit in
``_ratelimit`` and the shape of replies in ``_responses``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from .._endpoints import Family, registry
from ._conversations import Conversations
from ._debugging import Debugging
from ._dispatch import Caller, Handler, ProjectCaller, handler_table
from ._faults import Fault, FaultKind, FaultPlan
from ._params import RequestError, parse_body
from ._platform import Platform, Token
from ._platform_contacts import ContactBook, PlatformContacts
from ._platform_conversations import PlatformConversations
from ._platform_org import Members, PlatformOrganization
from ._platform_projects import PlatformProjects
from ._platform_training import PlatformTraining
from ._ratelimit import ALLOW, EmulatorRateLimit, limiter_for
from ._responses import after_processing, error, fault_response, throttled
from ._seeding import Seeding
from ._state import LedgerEntry, RequestRecord, State
from ._voice import Voice

__all__ = ["Emulator"]

BASE_PATH = "/chatbot/v1"
# How long stop() lets a request that arrived while it was stopping finish.
_SHUTDOWN_GRACE = 0.5


@attrs.frozen
class _Call:
    """What the request cycle needs to know about one request."""

    endpoint: str
    content_type: str
    body: bytes
    caller: Caller | str  # a str: no credential, or one refused with this 401 message


class Emulator(Seeding):
    """An in-memory YourGPT Project Integration API, served over real loopback HTTP.

    Use it as an async context manager, which starts a server on an ephemeral port::

        async with Emulator() as emu:
            client = AsyncClient(emu.api_key, widget_uid=emu.widget_uid, base_url=emu.base_url)
            ...
            assert emu.delivered("Hi") == 1

    ``emu.app`` is the ``aiohttp.web.Application``, usable with aiohttp's own test utilities
    instead of ``start()``.

    Behaviour, per the public reference (all endpoints are ``POST <base_url>/<name>`` and accept
    both JSON and form-encoded bodies; a body that is neither is HTTP 400):

    - A missing or unknown ``api-key`` header is HTTP 401; a widget of another project is 403; an
      unknown widget, a missing or invalid field is 400 with ``errors``; an unknown session (or one
      of another project or widget) is HTTP 200 with RXERROR "Session not found"; an unknown
      endpoint is 404 and a method other than POST is 405.
    - createSession sends ``session_uid`` as a bare 17-digit JSON number (above 2^53); every other
      endpoint sends it as a string. Session uids count up from 17226012685401506.
    - sendMessage with ``send_by=user`` stores the message and, while the session is in bot
      mode, a deterministic AI reply, which is the reply's ``data``: its text is
      ``"You said: <message>"``; when the message ends with ``"?"`` its ``content_type`` is
      ``"picker"`` with the choices like, dislike and requesthumanoperator, otherwise
      ``"text"`` with no choices. ``ai_latency`` seconds
      pass between storing the message and storing the reply (whether to reply is decided when
      the message is stored; a client that gives up meanwhile does not stop it). In operator or
      awaiting mode
      there is no reply and ``data`` is the stored message. ``send_by=operator`` switches the
      session to operator mode (until updateSession sets ``chat_mode=bot`` or ``state=resolved``);
      operator and assistant messages get no reply; ``data`` is the stored message.
    - getSessions lists the key's project's sessions ordered by last activity (the last
      message, or the creation of a session without messages), oldest first for ASC. ``from`` and
      ``to`` bound the creation date (UTC, inclusive). ``filter`` conditions on the listed session
      fields support the operators ``=``/``eq``, ``!=``/``ne`` and ``in``; conditions on other
      models or unknown fields, other operators and ``view_id`` are accepted and ignored. A form
      body may carry ``filter`` as JSON text.
    - getSessionMessages lists a session's messages by id; the order field may be named
      ``orderBy`` or ``order``.
    - getChatbotExecutionLogs lists what the bot did, newest first unless ``orderBy=ASC``: each
      AI answer logs an ``ai_reply`` action. Its ``session_uid`` is a bare number in every other
      entry, as the pages disagree.
    - searchIndexDocument finds the chunks (paragraphs) of the project's documents that share
      words with the query, best first (score: the share of the query's words a chunk has),
      paged by ``offset``; ``node_id`` keeps one document. The first project starts trained on
      ``SAMPLE_DOCUMENT``; :meth:`~Emulator.add_document` adds more. A plan without it
      (:meth:`~Emulator.set_plan`) answers 403.
    - makeOutboundCall checks ``call_to`` (E.164) and records the call in
      :attr:`~Emulator.calls`; no phone rings.
    - Pages: page ``p`` of size ``l`` holds items ``[(p-1)*l : p*l]``; ``total`` counts all items.
    - The Platform API's contacts, seeded with :meth:`~Emulator.add_contact` and
      :meth:`~Emulator.add_company`:
      getAllContacts's ``search`` looks in the name, email and phone, ``tags`` selects contacts
      with any of the tags, ``from``/``to`` bound the creation day; a contact list is a saved
      filter of ``eq`` conditions, applied to whatever contacts there are when ``list_id`` is
      given; linkContactTags links only tags that exist, keeping the contact's others.
    - Every answer, errors and faults included, carries an ``x-request-id`` header, unique per
      request and kept in its :class:`RequestRecord`.
    - Platform training: texts and FAQs per project (getProjectText searches both fields,
      case-insensitively; ``tags`` match any); a file uploaded from an http(s) URL whose path
      ends with a supported type is "processing" for ``FILE_PROCESSING_SECONDS`` (3) of
      ``clock``, then "done"; ``limits.texts`` and ``limits.files`` cap each project. The
      playground answers ``"You asked: <query>"`` and spends ``limits.credits`` by model
      (gpt-4o-mini 1, claude-haiku 2, gpt-4o 5); with too few left it refuses with the quota.
    - With an organisation's token (``Authorization: Bearer``) the six shared paths name the
      project by ``project_uid`` and work on the same sessions, messages, logs and documents
      as its key: a session made with one is the other's. The token's sendMessage has no
      ``send_by`` (the message is the user's, and is what the reply holds), getSessions filters
      by ``status`` and gives shorter rows, updateSession refuses fields it does not know, and
      searchIndexDocument requires ``limit``. A project outside the token's scope, or an
      endpoint its role or permissions do not allow, is 403 "You do not have permission to
      perform this action".
    - The organisation's first member is its creator, an owner, who cannot be removed nor
      given another role; invitations (any number per address) stay pending until accepted
      (:meth:`~Emulator.accept_invitation`) or revoked, and only pending ones are listed and revoked
      (revoking an unknown or revoked one is 404 "Not found"). Changing members needs an
      owner's token.

    With ``rate_limit``, every authenticated request counts against its key's limit (a token
    bucket by default, or fixed or sliding windows); beyond it the request is answered 429 and not
    processed, with its wait in the limit's ``retry_after`` style (``Retry-After`` in whole
    seconds by default), and every answer carries the limit's rate-limit ``headers`` if any. The
    ``fault_plan`` is consulted first, before authentication, the way a proxy in front of the
    service would fail.

    Attributes:
        ledger: Every message accepted from sendMessage, in order (never the AI's replies).
        requests: A :class:`RequestRecord` for every request received, faulted and rejected
            ones too.
        fault_plan: The faults to apply to the coming requests; may be changed at any time.
    """

    def __init__(  # long: a line for each part of the service it plays, and their options
        self,
        *,
        api_keys: Mapping[str, str] | None = None,
        widgets: Mapping[str, str] | None = None,
        tokens: Mapping[str, Token] | None = None,
        rate_limit: EmulatorRateLimit | None = None,
        fault_plan: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ai_latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up the emulator; nothing is served until ``start()``.

        Args:
            api_keys: API key to project id. Default: ``{DEFAULT_API_KEY: "project-1"}``.
            widgets: Widget uid to project id. Default: ``DEFAULT_WIDGET_UID`` in ``"project-1"``
                and ``OTHER_WIDGET_UID`` in ``"project-2"``. Each project id is sent as the
                session's integer ``project_id``, numbered 1, 2, ... in order of appearance.
            tokens: The organisation's API tokens, by secret, for the Platform API. Default:
                ``{DEFAULT_API_TOKEN: Token(DEFAULT_API_TOKEN)}``, an owner's for every
                project. Each project gets a ``project_uid`` and the first of its widgets.
            rate_limit: Per-key rate limit (kind, 429 style, headers: see
                :class:`EmulatorRateLimit`); ``None`` never answers 429 on its own.
            fault_plan: Faults to apply; default an empty plan.
            host: The interface to listen on.
            port: The port to listen on; 0 picks a free one.
            ai_latency: Seconds the AI "thinks" before replying to a user message.
            clock: Monotonic seconds, for the rate limit and file processing (fake it in tests).

        Raises:
            ValueError: ``api_keys`` or ``widgets`` is empty, or ``ai_latency`` is negative.
        """
        self._state = State(api_keys, widgets)
        if not ai_latency >= 0:
            raise ValueError(f"ai_latency must be >= 0, got {ai_latency!r}")
        # On a fake clock, fixed windows start on its whole seconds, so that a test knows them.
        self._limiter = limiter_for(rate_limit, align=clock is time.monotonic)
        self._host = host
        self._port = port
        self._clock = clock
        self.fault_plan = FaultPlan() if fault_plan is None else fault_plan
        self.requests: list[RequestRecord] = []
        self._platform = Platform(self._state, tokens)
        self._training = PlatformTraining(self._platform, clock)
        self._members = Members()
        self._contacts = ContactBook()
        self._handlers = self._handler_table(ai_latency)
        self._endpoints = frozenset(registry())
        self._app = self._make_app()
        self._runner: web.AppRunner | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._request_ids = itertools.count(1)
        self._base_url: str | None = None
        self._stopped = False

    def _handler_table(self, ai_latency: float) -> Mapping[tuple[Family, str], Handler]:
        """Every endpoint's handler, by family; the token's share the key's logic and state."""
        conversations = Conversations(self._state, ai_latency=ai_latency)
        debugging = Debugging(self._state)
        return handler_table(
            conversations,
            debugging,
            Voice(self._state),
            PlatformProjects(self._platform),
            PlatformConversations(self._state, self._platform, conversations, debugging),
            PlatformOrganization(self._platform, self._members),
            self._training,
            PlatformContacts(self._platform, self._contacts),
        )

    # -- public surface ---------------------------------------------------------------------

    # The ledger belongs to the state, where sendMessage writes it; these keep ``ledger`` the
    # plain attribute the class docstring describes (readable, clearable and replaceable).
    @property
    def ledger(self) -> list[LedgerEntry]:
        return self._state.ledger

    @ledger.setter
    def ledger(self, entries: list[LedgerEntry]) -> None:
        self._state.ledger = entries

    @property
    def app(self) -> web.Application:
        """The ``aiohttp.web.Application`` that serves the API under ``/chatbot/v1``."""
        return self._app

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/chatbot/v1``, once started.

        Raises:
            RuntimeError: The emulator is not serving.
        """
        if self._base_url is None:
            raise RuntimeError("the emulator is not serving; use start() or `async with`")
        return self._base_url

    async def start(self) -> None:
        """Start serving on ``host``:`port`.

        Raises:
            RuntimeError: It was already started.
            OSError: The address cannot be bound.
        """
        if self._runner is not None or self._stopped:
            raise RuntimeError("an Emulator can be started only once")
        runner = web.AppRunner(self._app, shutdown_timeout=_SHUTDOWN_GRACE)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, self._host, self._port, backlog=1024)
            await site.start()
        except BaseException:
            await self.stop()
            raise
        host, port = runner.addresses[0][:2]
        netloc = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{netloc}:{port}{BASE_PATH}"

    async def stop(self) -> None:
        """Stop serving; a repeat call is a no-op.

        Requests still in progress (they can only be waiting in a latency fault or in
        ``ai_latency``) are cut off rather than waited for; their clients see the connection close.
        """
        self._stopped = True
        self._base_url = None
        in_flight = [task for task in self._in_flight if not task.done()]
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        """Start serving and return the emulator."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    def request_count(self, endpoint: str | None = None) -> int:
        """Count the requests received, faulted and rejected ones included.

        Args:
            endpoint: Count only this endpoint's requests; ``None`` counts all.

        Returns:
            The number of requests.
        """
        return sum(1 for record in self.requests if endpoint in (None, record.endpoint))

    def count_status(self, status: int | None) -> int:
        """Count the requests answered with an HTTP status.

        Args:
            status: The status, e.g. 429; ``None`` counts dropped connections.

        Returns:
            The number of requests.
        """
        return sum(1 for record in self.requests if record.status == status)

    def delivered(self, message: str) -> int:
        """Count the accepted messages with this exact text (AI replies are not counted).

        Args:
            message: The text.

        Returns:
            How many times it was delivered.
        """
        return sum(1 for entry in self.ledger if entry.message == message)

    def reset(self) -> None:
        """Forget the ledger, the request records, the fault plan and the rate-limit buckets.

        Sessions and their messages are kept, so a test can reset the bookkeeping after its
        setup and assert only on what follows.
        """
        self.ledger.clear()
        self.writes.clear()
        self.requests.clear()
        self.fault_plan.clear()
        if self._limiter is not None:
            self._limiter.reset()

    # -- request cycle ----------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", BASE_PATH + "/{endpoint}", self._handle)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    def _next_request_id(self) -> str:
        return f"req_{id(self) & 0xFFFF:04x}{next(self._request_ids):08d}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info.get("endpoint") or request.path
        caller = self._caller(request)
        fault: Fault | None = None
        response: web.Response | None = None
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            try:
                body = await request.read()
            except web.HTTPException as exc:  # e.g. body over client_max_size
                response = error(exc.status, exc.reason)
                return response
            if endpoint not in self._endpoints:
                response = error(404, "Endpoint not found")
            elif request.method != "POST":
                response = error(405, "Method not allowed", headers={"Allow": "POST"})
            else:
                fault = self.fault_plan.next_fault(endpoint)
                call = _Call(endpoint, request.content_type, body, caller)
                response = await self._serve(call, fault)
        finally:
            status = request_id = None
            if response is not None:
                status = response.status
                # Every answer carries one, as a real service's gateway would, so that a
                # client's request_id can be tested.
                request_id = response.headers["x-request-id"] = self._next_request_id()
            kind = None if fault is None else fault.kind.value
            known = not isinstance(caller, str)
            record = RequestRecord(endpoint, status, kind, known, request_id)
            self.requests.append(record)
            if task is not None:
                self._in_flight.discard(task)
        if response is None:
            # Drop: close the socket without a reply. aiohttp then fails to write the response
            # below, takes it for a client gone away and logs nothing above debug level; the
            # client sees the connection closed (ServerDisconnectedError).
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)  # never sent; only the access log shows it
        return response

    async def _serve(self, call: _Call, fault: Fault | None) -> web.Response | None:
        """Apply ``fault`` around processing; ``None`` means drop the connection."""
        if fault is None:
            return await self._process(call)
        kind = fault.kind
        if not kind.processes_request:
            return fault_response(fault)
        if kind is FaultKind.SLOW_STORE:
            self._process_later(call, fault.seconds)
            return None
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.seconds)
        return after_processing(fault, await self._process(call))

    def _process_later(self, call: _Call, seconds: float) -> None:
        """Process ``call`` ``seconds`` from now, in the background (``stop()`` cancels it)."""

        async def later() -> None:
            await asyncio.sleep(seconds)
            await self._process(call)

        task = asyncio.get_running_loop().create_task(later(), name="emulator-slow-store")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    def _caller(self, request: web.Request) -> Caller | str:
        """Who makes ``request``, by its credential; else the 401 message refusing it."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secret.strip():
            return self._platform.caller(secret.strip())
        api_key = request.headers.get("api-key")
        project = None if api_key is None else self._state.api_keys.get(api_key)
        if api_key is None or project is None:
            return "Invalid API key"
        return ProjectCaller(project, api_key)

    async def _process(self, call: _Call) -> web.Response:
        if isinstance(call.caller, str):
            return error(401, call.caller)
        decision = ALLOW
        if self._limiter is not None:
            decision = self._limiter.take(call.caller.bucket, self._clock())
            if not decision.allowed:
                return throttled(decision.headers, html=decision.html)
        handler = self._handlers.get((call.caller.family, call.endpoint))
        if handler is None:
            response = error(404, "Endpoint not found")
        else:
            try:
                response = await handler(parse_body(call.content_type, call.body), call.caller)
            except RequestError as refused:
                response = refused.response()
        if decision.headers:
            response.headers.update(decision.headers)
        return response
