"""The sidecar: the agent's local endpoint, an HTTP/2 relay with the mesh's own gRPC services."""
