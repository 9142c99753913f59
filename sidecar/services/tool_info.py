"""What Sidecar.ListTools says of one tool: its methods with JSON Schemas and descriptions."""

from __future__ import annotations

from mesh.api.v1 import sidecar_pb2
from mesh.descriptors import DescriptorError
from sidecar.catalog import ToolEntry
from sidecar.services.comments import comments_by_symbol
from sidecar.services.jsonschema import message_schema


def tool_info(entry: ToolEntry) -> sidecar_pb2.ToolInfo:
    """The ToolInfo of `entry`. Descriptions come from the descriptors' source info when
    present; a tool without a description of its own is described by its services' comments."""
    tool = entry.state.tool
    comments = comments_by_symbol(tool.descriptors)
    description = tool.description or "\n\n".join(
        comments[service] for service in entry.services if service in comments
    )
    info = sidecar_pb2.ToolInfo(
        name=entry.name,
        version=tool.version,
        description=description,
        services=entry.services,
        endpoint_count=len(entry.endpoints),
    )
    if not entry.methods:
        return info
    try:
        pool = entry.pool
    except DescriptorError:
        return info  # no methods are routed for such a tool either
    for shape in entry.methods:
        method = info.methods.add(
            name=shape.name,
            path=shape.path,
            input_type=shape.input_type,
            output_type=shape.output_type,
            client_streaming=shape.client_streaming,
            server_streaming=shape.server_streaming,
            description=comments.get(f"{shape.service}.{shape.name}", ""),
        )
        method.input_schema.update(
            message_schema(pool.FindMessageTypeByName(shape.input_type), comments)
        )
        method.output_schema.update(
            message_schema(pool.FindMessageTypeByName(shape.output_type), comments)
        )
    return info
