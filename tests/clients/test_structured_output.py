"""Structured output through /v1/chat/completions with the real `openai` client: `response_format`
json_object and json_schema (pydantic models through `parse`, nested models by `$ref`) become a
forced Bedrock tool whose input comes back as the message's content, streamed or not."""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from test_gateway_openai import TOOLS, client, gw  # noqa: F401 (gw: the same gateway fixture)


class Address(BaseModel):
    city: str
    postcode: str


class Person(BaseModel):
    name: str
    age: int
    home: Address
    tags: list[str]


def parse(c, **kw):
    """`chat.completions.parse` (newer clients) or `beta.chat.completions.parse`."""
    completions = c.chat.completions
    if not hasattr(completions, "parse"):
        completions = c.beta.chat.completions
    return completions.parse(**kw)


@pytest.mark.parametrize("model", ["claude", "nova"])
def test_a_pydantic_model_comes_back_parsed(gw, model):
    r = parse(client(gw), model=model, response_format=Person,
              messages=[{"role": "user", "content": "Invent a person who lives in Lyon."}])
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    person = choice.message.parsed
    assert isinstance(person, Person) and isinstance(person.home, Address)
    assert Person.model_validate_json(choice.message.content) == person
    assert r.usage.completion_tokens > 0


def test_json_object_is_a_json_object(gw):
    r = client(gw).chat.completions.create(
        model="claude", response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Answer in JSON."}])
    assert r.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_a_streamed_schema_answer_joins_to_valid_json(gw):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    chunks = list(client(gw).chat.completions.create(
        model="claude", stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "city_facts", "schema": schema, "strict": True}},
        messages=[{"role": "user", "content": "Facts about Oslo"}]))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    answer = json.loads(text)
    assert set(answer) == {"city", "population"} and isinstance(answer["population"], int)
    assert not any(ch.choices[0].delta.tool_calls for ch in chunks if ch.choices)
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]


def test_tools_beside_a_format_still_call_tools(gw):
    r = client(gw).chat.completions.create(
        model="claude", tools=TOOLS, tool_choice="required", response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "weather in Oslo"}])
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize("fmt", [
    {"type": "json_schema", "json_schema": {"name": "has spaces", "schema": {"type": "object"}}},
    {"type": "json_schema"},
    {"type": "yaml"},
])
def test_a_malformed_format_is_refused_by_name(gw, fmt):
    with pytest.raises(openai.BadRequestError) as e:
        client(gw).chat.completions.create(model="claude", response_format=fmt,
                                           messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["param"] == "response_format"


def test_a_json_schema_against_the_demo(tmp_path):
    from gatewaylib import Demo

    d = Demo(tmp_path)
    try:
        c = OpenAI(base_url=f"http://127.0.0.1:{d.gw}/v1", api_key="sk-demo-eu", max_retries=0, timeout=20)
        r = parse(c, model="claude-sonnet-4", response_format=Person,
                  messages=[{"role": "user", "content": "Invent a person who lives in Lyon."}])
        assert isinstance(r.choices[0].message.parsed, Person) and r.choices[0].finish_reason == "stop"
    finally:
        d.stop()
