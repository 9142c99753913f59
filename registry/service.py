"""The `toolmesh.v1.Registry` servicer: auth, then validation, then the store.

Each mutation checks the bearer token first (an unauthenticated caller learns nothing about
its request), validates the request into plain values, and hands them to the store, which
commits one transaction. `RegistryError`s become gRPC status here, in `_answer`, and only here.

A policy is checked against the tools it names when it is written (RegisterTool with a policy,
SetPolicy): its `methods` keys against the tool's methods, its fallbacks against theirs. A
policy that is not being written never makes a write fail: registering a fallback tool again
with other method shapes, deregistering it, or registering a tool again without a policy (its
stored policy is kept) is accepted, like deregistering a fallback always was, so that no tool's
deployment is blocked by another's policy. The policies this leaves stale are reported as
warnings, one line per problem naming the tool, the field in its policy and the problem: logged,
and returned in the response's `warnings` so that whoever made the change sees them. Sidecars
treat a missing fallback as none.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import grpc

from mesh.api.v1 import policy_pb2, registry_pb2, registry_pb2_grpc
from mesh.config.names import is_tool_name
from registry.auth import BearerAuth
from registry.errors import NotFound, RegistryError, status_of
from registry.leases import Reaper
from registry.policy_targets import (
    MethodShapes,
    PolicyTargets,
    fallback_names,
    lost_fallback_problems,
    stale_policy_problems,
    stale_policy_warnings,
    tool_methods,
)
from registry.store import Store
from registry.tables import timestamp
from registry.validation import (
    require_tool_name,
    validate_add_endpoints,
    validate_instance_ref,
    validate_register_instance,
    validate_remove_endpoints,
    validate_set_policy,
    validate_tool,
)
from registry.watch import HubClosed, WatcherOverflow, WatchHub, change_message, initial_messages

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _FallbackTools:
    """The fallback tools a policy names, as found in the store just before a write."""

    missing: frozenset[str]  # not registered
    methods: Mapping[str, MethodShapes]  # the registered ones' methods


async def _abort(context: Context, error: RegistryError) -> NoReturn:
    code, message = status_of(error)
    await context.abort(code, message)


class RegistryService(registry_pb2_grpc.RegistryServicer):  # type: ignore[misc]
    """Serves the Registry API over one store, watch hub and lease reaper."""

    def __init__(self, store: Store, hub: WatchHub, auth: BearerAuth, reaper: Reaper) -> None:
        self._store = store
        self._hub = hub
        self._auth = auth
        self._reaper = reaper

    async def _answer(self, context: Context, handle: Callable[[], Awaitable[T]]) -> T:
        try:
            return await handle()
        except RegistryError as error:
            await _abort(context, error)

    async def _mutation(self, context: Context, handle: Callable[[], Awaitable[T]]) -> T:
        async def checked() -> T:
            self._auth.require(context.invocation_metadata())
            return await handle()

        return await self._answer(context, checked)

    async def _fallback_tools(self, policy: policy_pb2.ToolPolicy) -> _FallbackTools:
        """The fallback tools `policy` names: those the store lacks, and the others' methods.

        Looked up before the write, not inside its transaction: a fallback is not pinned
        (deregistering or changing it stays allowed), so the check guards against typos and
        ordering mistakes, and sidecars treat a fallback that disappeared as no fallback.
        """
        missing = set()
        methods: dict[str, MethodShapes] = {}
        for name in sorted(fallback_names(policy)):
            if not is_tool_name(name):
                continue  # reported by the validation as an invalid name
            try:
                state = await self._store.get_tool(name)
            except NotFound:
                missing.add(name)
                continue
            methods[name] = tool_methods(state.tool)
        return _FallbackTools(frozenset(missing), methods)

    async def _policy_targets(
        self, request: registry_pb2.SetPolicyRequest, fallbacks: _FallbackTools
    ) -> PolicyTargets | None:
        """What SetPolicy's policy is checked against; None when there is nothing to check
        (no policy, or no such tool: the store then answers NOT_FOUND)."""
        if not request.HasField("policy") or not is_tool_name(request.tool):
            return None
        try:
            state = await self._store.get_tool(request.tool)
        except NotFound:
            return None
        return PolicyTargets(request.tool, tool_methods(state.tool), fallbacks.methods)

    async def _stale_policy_warnings(
        self,
        change: str,
        problems_after: Callable[[list[registry_pb2.ToolState]], Mapping[str, list[str]]],
    ) -> list[str]:
        """The warnings for the stored policies a committed change left stale, each logged.

        `change` completes "after ..." (e.g. "tool 'backup' was registered");
        `problems_after` finds the stale policies' problems, by tool, in the tools as stored
        now. The change itself is never undone or refused here (see the module docstring).
        """
        try:
            states, _ = await self._store.list_tools()
        except RegistryError as error:
            # The change is committed: report it as done, and say what was not checked.
            warning = f"the policies that may be stale after {change} were not checked: {error}"
            _log.error("%s", warning)
            return [warning]
        warnings = stale_policy_warnings(change, problems_after(states))
        for warning in warnings:
            _log.warning("%s", warning)
        return warnings

    async def RegisterTool(
        self, request: registry_pb2.RegisterToolRequest, context: Context
    ) -> registry_pb2.RegisterToolResponse:
        async def handle() -> registry_pb2.RegisterToolResponse:
            fallbacks = await self._fallback_tools(request.tool.policy)
            definition = validate_tool(
                request.tool, unregistered=fallbacks.missing, fallbacks=fallbacks.methods
            )
            state, version, created = await self._store.register_tool(definition)
            name = definition.tool.name
            # Even when created: a fallback deregistered then registered anew may differ.
            warnings = await self._stale_policy_warnings(
                f"tool {name!r} was registered",
                lambda states: stale_policy_problems(name, states),
            )
            return registry_pb2.RegisterToolResponse(
                state=state, version=version, created=created, warnings=warnings
            )

        return await self._mutation(context, handle)

    async def DeregisterTool(
        self, request: registry_pb2.DeregisterToolRequest, context: Context
    ) -> registry_pb2.DeregisterToolResponse:
        async def handle() -> registry_pb2.DeregisterToolResponse:
            name = require_tool_name(request.name, "name")
            version = await self._store.deregister_tool(name)
            warnings = await self._stale_policy_warnings(
                f"tool {name!r} was deregistered",
                lambda states: lost_fallback_problems(name, states),
            )
            return registry_pb2.DeregisterToolResponse(version=version, warnings=warnings)

        return await self._mutation(context, handle)

    async def AddEndpoints(
        self, request: registry_pb2.AddEndpointsRequest, context: Context
    ) -> registry_pb2.AddEndpointsResponse:
        async def handle() -> registry_pb2.AddEndpointsResponse:
            addresses = validate_add_endpoints(request)
            state, version = await self._store.add_endpoints(request.tool, addresses)
            return registry_pb2.AddEndpointsResponse(state=state, version=version)

        return await self._mutation(context, handle)

    async def RemoveEndpoints(
        self, request: registry_pb2.RemoveEndpointsRequest, context: Context
    ) -> registry_pb2.RemoveEndpointsResponse:
        async def handle() -> registry_pb2.RemoveEndpointsResponse:
            addresses = validate_remove_endpoints(request)
            state, version = await self._store.remove_endpoints(request.tool, addresses)
            return registry_pb2.RemoveEndpointsResponse(state=state, version=version)

        return await self._mutation(context, handle)

    async def RegisterInstance(
        self, request: registry_pb2.RegisterInstanceRequest, context: Context
    ) -> registry_pb2.RegisterInstanceResponse:
        async def handle() -> registry_pb2.RegisterInstanceResponse:
            registration = validate_register_instance(request)
            instance, version = await self._store.register_instance(registration)
            self._reaper.poke()  # this lease may end before the one the reaper waits for
            return registry_pb2.RegisterInstanceResponse(instance=instance, version=version)

        return await self._mutation(context, handle)

    async def Heartbeat(
        self, request: registry_pb2.HeartbeatRequest, context: Context
    ) -> registry_pb2.HeartbeatResponse:
        async def handle() -> registry_pb2.HeartbeatResponse:
            ref = validate_instance_ref(request.tool, request.instance_id)
            expires_at = await self._store.heartbeat(ref)
            return registry_pb2.HeartbeatResponse(lease_expires_at=timestamp(expires_at))

        return await self._mutation(context, handle)

    async def DeregisterInstance(
        self, request: registry_pb2.DeregisterInstanceRequest, context: Context
    ) -> registry_pb2.DeregisterInstanceResponse:
        async def handle() -> registry_pb2.DeregisterInstanceResponse:
            ref = validate_instance_ref(request.tool, request.instance_id)
            version = await self._store.deregister_instance(ref)
            return registry_pb2.DeregisterInstanceResponse(version=version)

        return await self._mutation(context, handle)

    async def SetPolicy(
        self, request: registry_pb2.SetPolicyRequest, context: Context
    ) -> registry_pb2.SetPolicyResponse:
        async def handle() -> registry_pb2.SetPolicyResponse:
            fallbacks = await self._fallback_tools(request.policy)
            targets = await self._policy_targets(request, fallbacks)
            policy = validate_set_policy(request, unregistered=fallbacks.missing, targets=targets)
            version = await self._store.set_policy(request.tool, policy)
            return registry_pb2.SetPolicyResponse(version=version)

        return await self._mutation(context, handle)

    async def GetTool(
        self, request: registry_pb2.GetToolRequest, context: Context
    ) -> registry_pb2.GetToolResponse:
        async def handle() -> registry_pb2.GetToolResponse:
            name = require_tool_name(request.name, "name")
            return registry_pb2.GetToolResponse(state=await self._store.get_tool(name))

        return await self._answer(context, handle)

    async def ListTools(
        self, request: registry_pb2.ListToolsRequest, context: Context
    ) -> registry_pb2.ListToolsResponse:
        async def handle() -> registry_pb2.ListToolsResponse:
            tools, version = await self._store.list_tools()
            return registry_pb2.ListToolsResponse(tools=tools, version=version)

        return await self._answer(context, handle)

    async def Watch(
        self, request: registry_pb2.WatchRequest, context: Context
    ) -> AsyncIterator[registry_pb2.WatchResponse]:
        # Subscribe before reading the state: a change committed while the state is read
        # is then both in the state and in the queue, and dropped from the queue by version;
        # none can fall between the two.
        subscription = self._hub.subscribe()
        store_id = self._store.store_id
        try:
            try:
                same_store = not request.store_id or request.store_id == store_id
                since = request.since_version if same_store else 0  # another store: resend all
                start = await self._store.watch_start(since)
            except RegistryError as error:
                await _abort(context, error)
            for message in initial_messages(start, store_id):
                yield message
            last = start.version
            while True:
                try:
                    change = await subscription.next_change()
                except WatcherOverflow as overflow:
                    await context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"watch stream fell behind ({overflow}); resume with since_version={last}",
                    )
                except HubClosed:
                    await context.abort(
                        grpc.StatusCode.UNAVAILABLE,
                        f"the registry is shutting down; resume with since_version={last}",
                    )
                if change.version <= last:
                    continue  # already part of what was sent first
                yield change_message(change, store_id)
                last = change.version
        finally:
            subscription.cancel()
