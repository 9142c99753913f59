import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoadBalancing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOAD_BALANCING_UNSPECIFIED: _ClassVar[LoadBalancing]
    LOAD_BALANCING_LEAST_REQUEST: _ClassVar[LoadBalancing]
    LOAD_BALANCING_ROUND_ROBIN: _ClassVar[LoadBalancing]
    LOAD_BALANCING_PEAK_EWMA: _ClassVar[LoadBalancing]
LOAD_BALANCING_UNSPECIFIED: LoadBalancing
LOAD_BALANCING_LEAST_REQUEST: LoadBalancing
LOAD_BALANCING_ROUND_ROBIN: LoadBalancing
LOAD_BALANCING_PEAK_EWMA: LoadBalancing

class ToolPolicy(_message.Message):
    __slots__ = ("timeout", "attempt_timeout", "retry", "circuit_breaker", "outlier_detection", "load_balancing", "hedging", "fallback", "concurrency_limit", "methods")
    class MethodsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: MethodPolicy
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[MethodPolicy, _Mapping]] = ...) -> None: ...
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_DETECTION_FIELD_NUMBER: _ClassVar[int]
    LOAD_BALANCING_FIELD_NUMBER: _ClassVar[int]
    HEDGING_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    timeout: _duration_pb2.Duration
    attempt_timeout: _duration_pb2.Duration
    retry: RetryPolicy
    circuit_breaker: CircuitBreakerPolicy
    outlier_detection: OutlierDetectionPolicy
    load_balancing: LoadBalancing
    hedging: HedgingPolicy
    fallback: str
    concurrency_limit: ConcurrencyLimitPolicy
    methods: _containers.MessageMap[str, MethodPolicy]
    def __init__(self, timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempt_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreakerPolicy, _Mapping]] = ..., outlier_detection: _Optional[_Union[OutlierDetectionPolicy, _Mapping]] = ..., load_balancing: _Optional[_Union[LoadBalancing, str]] = ..., hedging: _Optional[_Union[HedgingPolicy, _Mapping]] = ..., fallback: _Optional[str] = ..., concurrency_limit: _Optional[_Union[ConcurrencyLimitPolicy, _Mapping]] = ..., methods: _Optional[_Mapping[str, MethodPolicy]] = ...) -> None: ...

class MethodPolicy(_message.Message):
    __slots__ = ("timeout", "attempt_timeout", "retry", "circuit_breaker", "hedging", "fallback", "idempotent")
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_BREAKER_FIELD_NUMBER: _ClassVar[int]
    HEDGING_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    timeout: _duration_pb2.Duration
    attempt_timeout: _duration_pb2.Duration
    retry: RetryPolicy
    circuit_breaker: CircuitBreakerPolicy
    hedging: HedgingPolicy
    fallback: str
    idempotent: bool
    def __init__(self, timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., attempt_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., circuit_breaker: _Optional[_Union[CircuitBreakerPolicy, _Mapping]] = ..., hedging: _Optional[_Union[HedgingPolicy, _Mapping]] = ..., fallback: _Optional[str] = ..., idempotent: _Optional[bool] = ...) -> None: ...

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff", "max_backoff", "multiplier", "retryable_codes", "budget_ratio", "budget_min_per_second", "budget_window")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_CODES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_RATIO_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MIN_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BUDGET_WINDOW_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff: _duration_pb2.Duration
    max_backoff: _duration_pb2.Duration
    multiplier: float
    retryable_codes: _containers.RepeatedScalarFieldContainer[str]
    budget_ratio: float
    budget_min_per_second: int
    budget_window: _duration_pb2.Duration
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_backoff: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., multiplier: _Optional[float] = ..., retryable_codes: _Optional[_Iterable[str]] = ..., budget_ratio: _Optional[float] = ..., budget_min_per_second: _Optional[int] = ..., budget_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class CircuitBreakerPolicy(_message.Message):
    __slots__ = ("enabled", "consecutive_failures", "failure_rate", "window", "minimum_calls", "slow_call_duration", "slow_call_rate", "open_for", "open_for_multiplier", "max_open_for", "half_open_calls", "failure_codes")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    FAILURE_RATE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_CALLS_FIELD_NUMBER: _ClassVar[int]
    SLOW_CALL_DURATION_FIELD_NUMBER: _ClassVar[int]
    SLOW_CALL_RATE_FIELD_NUMBER: _ClassVar[int]
    OPEN_FOR_FIELD_NUMBER: _ClassVar[int]
    OPEN_FOR_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_FOR_FIELD_NUMBER: _ClassVar[int]
    HALF_OPEN_CALLS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    consecutive_failures: int
    failure_rate: float
    window: _duration_pb2.Duration
    minimum_calls: int
    slow_call_duration: _duration_pb2.Duration
    slow_call_rate: float
    open_for: _duration_pb2.Duration
    open_for_multiplier: float
    max_open_for: _duration_pb2.Duration
    half_open_calls: int
    failure_codes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, enabled: _Optional[bool] = ..., consecutive_failures: _Optional[int] = ..., failure_rate: _Optional[float] = ..., window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., minimum_calls: _Optional[int] = ..., slow_call_duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., slow_call_rate: _Optional[float] = ..., open_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., open_for_multiplier: _Optional[float] = ..., max_open_for: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., half_open_calls: _Optional[int] = ..., failure_codes: _Optional[_Iterable[str]] = ...) -> None: ...

class OutlierDetectionPolicy(_message.Message):
    __slots__ = ("enabled", "consecutive_failures", "base_ejection_time", "max_ejection_time", "max_ejection_ratio", "panic_threshold")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BASE_EJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_EJECTION_RATIO_FIELD_NUMBER: _ClassVar[int]
    PANIC_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    consecutive_failures: int
    base_ejection_time: _duration_pb2.Duration
    max_ejection_time: _duration_pb2.Duration
    max_ejection_ratio: float
    panic_threshold: float
    def __init__(self, enabled: _Optional[bool] = ..., consecutive_failures: _Optional[int] = ..., base_ejection_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_ejection_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_ejection_ratio: _Optional[float] = ..., panic_threshold: _Optional[float] = ...) -> None: ...

class HedgingPolicy(_message.Message):
    __slots__ = ("enabled", "delay", "adaptive", "adaptive_floor", "max_hedges")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    ADAPTIVE_FIELD_NUMBER: _ClassVar[int]
    ADAPTIVE_FLOOR_FIELD_NUMBER: _ClassVar[int]
    MAX_HEDGES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    delay: _duration_pb2.Duration
    adaptive: bool
    adaptive_floor: _duration_pb2.Duration
    max_hedges: int
    def __init__(self, enabled: _Optional[bool] = ..., delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., adaptive: _Optional[bool] = ..., adaptive_floor: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_hedges: _Optional[int] = ...) -> None: ...

class ConcurrencyLimitPolicy(_message.Message):
    __slots__ = ("max_in_flight", "max_queue")
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    max_in_flight: int
    max_queue: int
    def __init__(self, max_in_flight: _Optional[int] = ..., max_queue: _Optional[int] = ...) -> None: ...
