"""The `toolmesh` command line: the composition root of registry, sidecar and client commands."""
