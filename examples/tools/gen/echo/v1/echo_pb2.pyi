from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class EchoRequest(_message.Message):
    __slots__ = ("payload", "latency_ms", "status_code", "status_message", "failure_rate", "hang", "response_size", "count", "interval_ms", "compress_response", "call_id")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_RATE_FIELD_NUMBER: _ClassVar[int]
    HANG_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SIZE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    latency_ms: int
    status_code: int
    status_message: str
    failure_rate: float
    hang: bool
    response_size: int
    count: int
    interval_ms: int
    compress_response: bool
    call_id: str
    def __init__(self, payload: _Optional[bytes] = ..., latency_ms: _Optional[int] = ..., status_code: _Optional[int] = ..., status_message: _Optional[str] = ..., failure_rate: _Optional[float] = ..., hang: _Optional[bool] = ..., response_size: _Optional[int] = ..., count: _Optional[int] = ..., interval_ms: _Optional[int] = ..., compress_response: _Optional[bool] = ..., call_id: _Optional[str] = ...) -> None: ...

class EchoResponse(_message.Message):
    __slots__ = ("payload", "instance", "deadline_ms", "sequence", "received", "call_id")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    instance: str
    deadline_ms: int
    sequence: int
    received: int
    call_id: str
    def __init__(self, payload: _Optional[bytes] = ..., instance: _Optional[str] = ..., deadline_ms: _Optional[int] = ..., sequence: _Optional[int] = ..., received: _Optional[int] = ..., call_id: _Optional[str] = ...) -> None: ...
