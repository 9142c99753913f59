from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MethodInfo(_message.Message):
    __slots__ = ("name", "path", "input_type", "output_type", "client_streaming", "server_streaming", "input_schema", "output_schema", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    INPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_STREAMING_FIELD_NUMBER: _ClassVar[int]
    SERVER_STREAMING_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    input_type: str
    output_type: str
    client_streaming: bool
    server_streaming: bool
    input_schema: _struct_pb2.Struct
    output_schema: _struct_pb2.Struct
    description: str
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., input_type: _Optional[str] = ..., output_type: _Optional[str] = ..., client_streaming: _Optional[bool] = ..., server_streaming: _Optional[bool] = ..., input_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., output_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class ToolInfo(_message.Message):
    __slots__ = ("name", "version", "description", "services", "methods", "endpoint_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    services: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedCompositeFieldContainer[MethodInfo]
    endpoint_count: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., services: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[_Union[MethodInfo, _Mapping]]] = ..., endpoint_count: _Optional[int] = ...) -> None: ...

class SidecarListToolsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SidecarListToolsResponse(_message.Message):
    __slots__ = ("tools", "catalog_version", "from_cache")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[ToolInfo]
    catalog_version: int
    from_cache: bool
    def __init__(self, tools: _Optional[_Iterable[_Union[ToolInfo, _Mapping]]] = ..., catalog_version: _Optional[int] = ..., from_cache: _Optional[bool] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("method", "request_json", "metadata", "timeout_ms")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_JSON_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    method: str
    request_json: str
    metadata: _containers.ScalarMap[str, str]
    timeout_ms: int
    def __init__(self, method: _Optional[str] = ..., request_json: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("response_json", "stream_json")
    RESPONSE_JSON_FIELD_NUMBER: _ClassVar[int]
    STREAM_JSON_FIELD_NUMBER: _ClassVar[int]
    response_json: str
    stream_json: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, response_json: _Optional[str] = ..., stream_json: _Optional[_Iterable[str]] = ...) -> None: ...
