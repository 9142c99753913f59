"""Policy configuration: the `toolmesh.v1` policy (protobuf or YAML) as validated, frozen values.

Parsed and validated here only; the registry validates writes and the sidecar loads policies
with the same code, and no policy layer ever reads a dict, YAML or protobuf.
"""
