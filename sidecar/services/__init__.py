"""The sidecar's own gRPC services (health, reflection, toolmesh.v1.Sidecar) on an internal server.

The relay reaches that server like any tool endpoint, for every call whose service is in
`sidecar.services.names.INTERNAL_SERVICES`.
"""
