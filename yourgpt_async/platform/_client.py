"""AsyncPlatformClient: the Platform API (an organisation's token), grouped by resource.

The same machinery as :class:`~yourgpt_async.AsyncClient` (``BaseClient``: one session, limiter,
gate, retry policy, hooks and telemetry, views and raw responses), with the token sent as
``Authorization: Bearer``. Its resources are made on each access (they cost nothing), so a
view made by ``with_options`` reaches them with its own options.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp

from .. import _settings as settings
from .. import _validate as check
from .._base_client import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_RESPONSE_BYTES, BaseClient
from .._calls import Timeout
from .._config import RateLimit, RetryPolicy
from .._endpoints import Family
from .._resource import makes_view
from .._telemetry import RequestEvent, ResponseEvent, RetryEvent, ThrottleEvent
from ..pacing._limiter import LimiterFactory
from ._organization import OrganizationResource
from ._project import ProjectView
from ._projects import Models, Projects

__all__ = ["AsyncPlatformClient"]


class AsyncPlatformClient(BaseClient):
    """An asyncio client for YourGPT's Platform API, with an organisation's API token.

    It manages what an organisation owns: projects and their settings, their conversations,
    training, contacts, playground and the organisation's members. Make one per application
    and close it when done, best with ``async with``::

        async with AsyncPlatformClient() as yp:   # the token from YOURGPT_API_TOKEN
            async for project in await yp.projects.list():
                print(project.name, project.project_uid)
            bot = yp.project(project.project_uid)  # a view of one project, no I/O
            await bot.training.add_faq("Do you ship to Norway?", "Yes, in 3-5 days.")

    It takes the same options as :class:`~yourgpt_async.AsyncClient` and works the same way:
    one ``aiohttp.ClientSession``, one rate limiter and one concurrency gate for every call,
    the same retries (reads retried, creates never silently repeated), hooks, telemetry,
    :meth:`~yourgpt_async.AsyncPlatformClient.with_options` and ``with_raw_response``.

    Args:
        token: The organisation's API token (``api-v1-...``, from Settings > API Tokens);
            defaults to ``YOURGPT_API_TOKEN``. It is sent only in the ``Authorization`` header
            and never appears in a repr, log line or exception.
        base_url: Defaults to ``YOURGPT_BASE_URL``, then the service's URL. Plain ``http://`` is
            refused except to a loopback host (the emulator).
        timeout: How long one HTTP attempt may take: a :class:`Timeouts`, or seconds.
        retry: The default :class:`RetryPolicy`; each method also takes one per call.
        rate_limit: A :class:`RateLimit`, or a shared backend such as ``RedisRateLimit``.
        max_concurrency: Most requests in flight at once for this client.
        session: An ``aiohttp.ClientSession`` to use instead of the client's own; the client
            never closes it.
        max_response_bytes: Replies larger than this are refused unread (default 4 MiB).
        default_headers: Headers sent with every request, besides the client's own (the
            credential's ``api-key`` or ``Authorization``, ``Content-Type``, ``Host``, and the
            body's framing, ``Content-Length``, ``Transfer-Encoding`` and
            ``Content-Encoding``, cannot be set this way).
        user_agent_suffix: Text added to the ``User-Agent`` header, such as ``"my-app/1.2"``.
        on_request: Called with a :class:`RequestEvent` as each HTTP attempt is sent.
        on_response: Called with a :class:`ResponseEvent` when each attempt ends.
        on_retry: Called with a :class:`RetryEvent` before each wait for a retry.
        on_throttle: Called with a :class:`ThrottleEvent` when the service answers 429 or 503.

    Raises:
        ConfigurationError: No token, a malformed token or base URL, or a bad setting.
    """

    _family = Family.PLATFORM

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | LimiterFactory | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        session: aiohttp.ClientSession | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        default_headers: Mapping[str, str] | None = None,
        user_agent_suffix: str | None = None,
        on_request: Callable[[RequestEvent], object] | None = None,
        on_response: Callable[[ResponseEvent], object] | None = None,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_throttle: Callable[[ThrottleEvent], object] | None = None,
    ) -> None:
        secret = settings.token(check.from_env(token, "YOURGPT_API_TOKEN"))
        super().__init__(
            credential={"Authorization": f"Bearer {secret}"},
            secret=secret,
            base_url=base_url,
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            session=session,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
            user_agent_suffix=user_agent_suffix,
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
            on_throttle=on_throttle,
        )

    @property
    def projects(self) -> Projects:
        """The organisation's projects: list, create, rename, configure."""
        return Projects(self)

    @property
    def models(self) -> Models:
        """The AI models a project can use."""
        return Models(self)

    @property
    def organization(self) -> OrganizationResource:
        """The organisation itself, its members and invitations."""
        return OrganizationResource(self)

    @makes_view
    def project(self, project_uid: str) -> ProjectView:
        """A view of one project, by its ``project_uid``: no request is made.

        Args:
            project_uid: The project (``Project.project_uid``, from ``projects.list()``).

        Raises:
            ConfigurationError: ``project_uid`` is neither a non-blank ``str`` nor an ``int``.
        """
        return ProjectView(self, project_uid)
