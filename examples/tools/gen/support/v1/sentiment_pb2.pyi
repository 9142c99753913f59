from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Label(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_UNSPECIFIED: _ClassVar[Label]
    LABEL_NEGATIVE: _ClassVar[Label]
    LABEL_NEUTRAL: _ClassVar[Label]
    LABEL_POSITIVE: _ClassVar[Label]
LABEL_UNSPECIFIED: Label
LABEL_NEGATIVE: Label
LABEL_NEUTRAL: Label
LABEL_POSITIVE: Label

class AnalyzeRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Driver(_message.Message):
    __slots__ = ("word", "weight", "negated")
    WORD_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    NEGATED_FIELD_NUMBER: _ClassVar[int]
    word: str
    weight: float
    negated: bool
    def __init__(self, word: _Optional[str] = ..., weight: _Optional[float] = ..., negated: _Optional[bool] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("score", "label", "drivers")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    score: float
    label: Label
    drivers: _containers.RepeatedCompositeFieldContainer[Driver]
    def __init__(self, score: _Optional[float] = ..., label: _Optional[_Union[Label, str]] = ..., drivers: _Optional[_Iterable[_Union[Driver, _Mapping]]] = ...) -> None: ...
