from . import tier_pb2 as _tier_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LookupRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("customer_id", "name", "tier", "open_tickets", "account_age_days", "customer_since")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    OPEN_TICKETS_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_SINCE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    name: str
    tier: _tier_pb2.Tier
    open_tickets: int
    account_age_days: int
    customer_since: str
    def __init__(self, customer_id: _Optional[str] = ..., name: _Optional[str] = ..., tier: _Optional[_Union[_tier_pb2.Tier, str]] = ..., open_tickets: _Optional[int] = ..., account_age_days: _Optional[int] = ..., customer_since: _Optional[str] = ...) -> None: ...
