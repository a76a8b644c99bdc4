"""SSE decoding and chunk parsing, byte for byte as vLLM streams them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generation.errors import BadGeneratorResponse
from generation.generators.sse import DONE, ServerEvent, SSEDecoder, decode_events, parse_chunk

VLLM_STREAM = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"Gr\xc3\xbc\xc3\x9fe"},"logprobs":null,"finish_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":" [S1]"},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}\n\n'
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":12,"total_tokens":14,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


def decode_all(pieces: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    return [e.data for e in events + decoder.close()]


def test_whole_vllm_stream() -> None:
    events = decode_all([VLLM_STREAM])
    assert events[-1] == DONE and len(events) == 5
    chunks = [parse_chunk(e) for e in events[:-1]]
    assert "".join(c.content for c in chunks) == "Grüße [S1]"
    assert chunks[0].content == ""  # role-only first chunk
    assert chunks[2].finish_reason == "stop"
    assert chunks[3].usage is not None and chunks[3].usage.completion_tokens == 2


@given(st.lists(st.integers(min_value=1, max_value=len(VLLM_STREAM) - 1), max_size=30))
def test_split_anywhere_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), len(VLLM_STREAM)]
    pieces = [VLLM_STREAM[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert decode_all(pieces) == decode_all([VLLM_STREAM])


def test_crlf_cr_comments_and_multiline_data() -> None:
    raw = b": keep-alive\r\n\r\ndata: a\r\ndata: b\r\n\r\nevent: x\rdata: c\r\rdata: d"
    assert decode_all([raw]) == ["a\nb", "c", "d"]


def test_cr_at_the_end_of_a_piece_waits_for_the_next_byte() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n\r\n") == [ServerEvent("x")]


def test_events_keep_their_name_until_dispatched() -> None:
    raw = b": keep-alive\nevent: token\ndata: {}\n\nevent: ignored\n\ndata: x\ndata: y"
    assert list(decode_events([raw])) == [ServerEvent("{}", "token"), ServerEvent("x\ny")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"choices": [{"delta": {"content": "oops"', "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"id": "x"}', "no choices"),
        ('{"choices": [{"index": 0}]}', "no delta"),
        ('{"choices": [{"delta": {"content": 3}}]}', "not text"),
        (
            json.dumps({"error": {"message": "boom", "type": "InternalServerError", "code": 500}}),
            "boom",
        ),
        (json.dumps({"object": "error", "message": "old style", "code": 400}), "old style"),
        ('{"choices": [{"delta": {}, "finish_reason": "error"}]}', "finish_reason 'error'"),
    ],
)
def test_bad_chunks_raise(data: str, message: str) -> None:
    with pytest.raises(BadGeneratorResponse, match=message):
        parse_chunk(data)


def test_reasoning_and_null_content_are_not_answer_text() -> None:
    chunk = parse_chunk('{"choices": [{"delta": {"reasoning_content": "hmm", "content": null}}]}')
    assert chunk.content == ""
