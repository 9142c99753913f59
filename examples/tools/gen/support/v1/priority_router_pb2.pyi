from . import tier_pb2 as _tier_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_P1: _ClassVar[Priority]
    PRIORITY_P2: _ClassVar[Priority]
    PRIORITY_P3: _ClassVar[Priority]
    PRIORITY_P4: _ClassVar[Priority]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_P1: Priority
PRIORITY_P2: Priority
PRIORITY_P3: Priority
PRIORITY_P4: Priority

class RouteRequest(_message.Message):
    __slots__ = ("sentiment_score", "tier", "subject", "body", "open_tickets", "is_reply")
    SENTIMENT_SCORE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    OPEN_TICKETS_FIELD_NUMBER: _ClassVar[int]
    IS_REPLY_FIELD_NUMBER: _ClassVar[int]
    sentiment_score: float
    tier: _tier_pb2.Tier
    subject: str
    body: str
    open_tickets: int
    is_reply: bool
    def __init__(self, sentiment_score: _Optional[float] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., open_tickets: _Optional[int] = ..., is_reply: _Optional[bool] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("priority", "queue", "reasons")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    priority: Priority
    queue: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, priority: _Optional[_Union[Priority, str]] = ..., queue: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...
