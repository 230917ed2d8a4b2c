"""One declaration of each input: a JSON body, a frame, or both.

An ``Input`` names its fields. Each ``Field`` pairs the check that cleans the
value (or raises ``InvalidInput`` for that field) with the DRF field that
documents it in the OpenAPI schema. From that one declaration:

- ``parse(data)`` gives the typed value the service takes (a NamedTuple);
  the REST view and the WebSocket consumer both call it, so the same bad
  input gets the same error on both transports, every broken field at once;
- ``serializer()`` is the request serializer of the schema.

Plain function calls, no DRF serializer per request: a send is parsed on the
socket's event loop.
"""

from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

from rest_framework import serializers

from .errors import InvalidInput

T = TypeVar("T", bound=tuple)

REQUIRED = "This field is required."


class Field(NamedTuple):
    # (field name, raw JSON value) -> the clean value, or raises InvalidInput.
    check: Callable[[str, Any], Any]
    # How the schema shows it (its own `required` is set from ``required``).
    schema: serializers.Field
    required: bool = True
    # The value when the field is absent (optional fields only).
    default: Any = None


class Input(Generic[T]):
    def __init__(
        self,
        name: str,
        result: type[T],
        combine: Callable[[dict], None] | None = None,
        combine_reads: tuple[str, ...] | None = None,
        **fields: Field,
    ) -> None:
        """``combine``: a rule across fields, run on the clean values of ``combine_reads`` (all fields
        unless named) once each of them passed its own check, so its error comes with the others'."""
        self.name = name
        self.result = result
        self.combine = combine
        self.combine_reads = frozenset(combine_reads if combine_reads is not None else fields)
        self.fields = fields

    def parse(self, data: dict, **known: Any) -> T:
        """The checked input as ``result``; ``known`` adds values the caller has already (a path id)."""
        values = dict(known)
        errors: dict[str, list[str]] = {}
        for name, field in self.fields.items():
            if name not in data:
                if field.required:
                    errors[name] = [REQUIRED]
                values[name] = field.default
                continue
            try:
                values[name] = field.check(name, data[name])
            except InvalidInput as exc:
                errors.update(exc.errors or {name: [exc.detail]})
        if self.combine is not None and not self.combine_reads & errors.keys():
            try:
                self.combine(values)
            except InvalidInput as exc:
                errors.update(exc.errors or {"non_field_errors": [exc.detail]})
        if errors:
            messages = [message for field_messages in errors.values() for message in field_messages]
            detail = messages[0] if len(messages) == 1 else "Invalid input."
            raise InvalidInput(detail, errors)
        return self.result(**values)

    def serializer(self) -> type[serializers.Serializer]:
        """The request serializer for the OpenAPI schema (drf-spectacular names it after ``name``)."""
        declared = {}
        for name, field in self.fields.items():
            schema_field = field.schema
            # A serializer copies its declared fields by calling their class again with the
            # arguments they were made with (DRF's Field.__deepcopy__): `required` goes in there.
            schema_field._kwargs["required"] = field.required  # type: ignore[attr-defined]  # DRF-internal, unstubbed
            schema_field.required = field.required
            declared[name] = schema_field
        return type(f"{self.name}Serializer", (serializers.Serializer,), declared)
