from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ParseRequest(_message.Message):
    __slots__ = ("raw",)
    RAW_FIELD_NUMBER: _ClassVar[int]
    raw: str
    def __init__(self, raw: _Optional[str] = ...) -> None: ...

class ParseResponse(_message.Message):
    __slots__ = ("sender", "sender_name", "subject", "body", "customer_id", "order_ids", "is_reply")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    IS_REPLY_FIELD_NUMBER: _ClassVar[int]
    sender: str
    sender_name: str
    subject: str
    body: str
    customer_id: str
    order_ids: _containers.RepeatedScalarFieldContainer[str]
    is_reply: bool
    def __init__(self, sender: _Optional[str] = ..., sender_name: _Optional[str] = ..., subject: _Optional[str] = ..., body: _Optional[str] = ..., customer_id: _Optional[str] = ..., order_ids: _Optional[_Iterable[str]] = ..., is_reply: _Optional[bool] = ...) -> None: ...
