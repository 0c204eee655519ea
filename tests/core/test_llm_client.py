"""The async chat-completions client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from collections.abc import Iterator

import pytest

from nerloop.core.config import Settings, SettingsError, load_settings
from nerloop.core.llm import LLMClient, LLMError, LLMUnreachableError, parse_json_answer
from nerloop.core.llm.client import retry_after_seconds
from nerloop.core.prompts import per_label_prompt
from nerloop.core.taxonomy import Label
from tests.helpers.fake_llm import FakeLLM, Fault

TEXT = "heard wheat bid 250 usd/t fob rouen march"
GOLD = {TEXT: [("PRICE", 16, 25), ("LOCATION", 30, 35)]}
PRICE = Label(name="PRICE", description="A price.")
KEY = "sk-test-0123456789abcdef-SECRET"


class Sleeps:
    """Records the waits the client asks for and returns at once: no test sleeps for real."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM(GOLD) as server:
        yield server


def settings_for(url: str, **kw: object) -> Settings:
    base: dict[str, object] = {"llm_base_url": url, "llm_model": "fake-model"}
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def client_for(url: str, sleeps: Sleeps | None = None, **kw: object) -> LLMClient:
    return LLMClient(settings_for(url, **kw), sleep=sleeps or Sleeps())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ask(client: LLMClient, text: str = TEXT) -> dict:
    prompt = per_label_prompt(text, PRICE)
    result = await client.chat(prompt.messages, prompt.schema)
    return parse_json_answer(result.content).value


async def test_answer_with_json_schema_and_usage(fake: FakeLLM) -> None:
    async with client_for(fake.url) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert parse_json_answer(result.content).value == {
        "spans": [{"text": "250 usd/t", "context": "heard wheat bid 250 usd/t fob rouen march"}]
    }
    assert result.attempts == 1 and result.tokens_in > 0 and result.tokens_out > 0
    body = fake.stats.bodies[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["model"] == "fake-model" and body["temperature"] == 0.0


async def test_falls_back_to_json_object_and_remembers() -> None:
    with FakeLLM(GOLD, reject_json_schema=True) as fake:
        async with client_for(fake.url) as client:
            assert (await ask(client))["spans"][0]["text"] == "250 usd/t"
            assert client.json_mode == "json_object"
            assert fake.requests == 2
            await ask(client)
            assert fake.requests == 3  # the second call goes straight to json_object
        formats = [b.get("response_format", {}).get("type") for b in fake.stats.bodies]
        assert formats == ["json_schema", "json_object", "json_object"]


async def test_falls_back_to_plain_text_and_tolerant_parser() -> None:
    with FakeLLM(GOLD, reject_json_schema=True, reject_json_object=True, wrap="fenced") as fake:
        async with client_for(fake.url) as client:
            assert (await ask(client))["spans"][0]["text"] == "250 usd/t"
            assert client.json_mode == "none"
        assert "response_format" not in fake.stats.bodies[-1]


async def test_retries_5xx_then_succeeds(fake: FakeLLM) -> None:
    fake.add_faults("500", "503")
    sleeps = Sleeps()
    async with client_for(fake.url, sleeps) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert result.attempts == 3 and fake.requests == 3
    assert len(result.waits) == 2 and result.waits == sleeps.calls
    # exponential backoff with jitter: the second wait's range lies above the first's
    assert 0.25 <= result.waits[0] <= 0.5 and 0.5 <= result.waits[1] <= 1.0


async def test_retries_are_bounded(fake: FakeLLM) -> None:
    fake.add_faults(*["500"] * 10)
    async with client_for(fake.url, llm_max_retries=2) as client:
        with pytest.raises(LLMError) as info:
            await ask(client)
    assert fake.requests == 3
    assert info.value.attempts == 3 and info.value.status == 500
    assert "failed after 3 attempts (HTTP 500: server error)" in str(info.value)


async def test_retry_after_seconds_is_honoured(fake: FakeLLM) -> None:
    fake.add_faults(Fault("429", retry_after="7"))
    sleeps = Sleeps()
    async with client_for(fake.url, sleeps) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert result.waits == [7.0] and sleeps.calls == [7.0] and result.attempts == 2


async def test_retry_after_http_date_is_honoured(fake: FakeLLM) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    fake.add_faults(Fault("429", retry_after=when))
    async with client_for(fake.url) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert len(result.waits) == 1 and 25 <= result.waits[0] <= 31


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert retry_after_seconds(past) == 0.0


async def test_429_without_retry_after_backs_off(fake: FakeLLM) -> None:
    fake.add_faults("429")
    async with client_for(fake.url) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert result.attempts == 2 and 0.25 <= result.waits[0] <= 0.5


@pytest.mark.parametrize(("fault", "status"), [("400", 400), ("401", 401)])
async def test_no_retry_on_other_4xx(fake: FakeLLM, fault: str, status: int) -> None:
    fake.add_faults(fault, fault)
    sleeps = Sleeps()
    async with client_for(fake.url, sleeps) as client:
        with pytest.raises(LLMError) as info:
            await ask(client)
    assert fake.requests == 1 and sleeps.calls == []
    assert info.value.status == status and info.value.attempts == 1
    assert f"refused the request (HTTP {status}" in str(info.value)


async def test_timeout_is_retried() -> None:
    with FakeLLM(GOLD, faults=[Fault("timeout", hang=3.0)]) as fake:
        async with client_for(fake.url, llm_timeout=0.8) as client:
            prompt = per_label_prompt(TEXT, PRICE)
            result = await client.chat(prompt.messages, prompt.schema)
        assert result.attempts == 2 and fake.requests == 2
        assert parse_json_answer(result.content).value["spans"]


async def test_timeouts_exhausted_give_one_message() -> None:
    faults = [Fault("timeout", hang=2.0)] * 2
    with FakeLLM(GOLD, faults=faults) as fake:
        async with client_for(fake.url, llm_timeout=0.2, llm_max_retries=1) as client:
            with pytest.raises(LLMError) as info:
                await ask(client)
    assert "failed after 2 attempts (timed out)" in str(info.value)


async def test_closed_connection_is_retried(fake: FakeLLM) -> None:
    fake.add_faults("close")
    async with client_for(fake.url) as client:
        prompt = per_label_prompt(TEXT, PRICE)
        result = await client.chat(prompt.messages, prompt.schema)
    assert result.attempts == 2 and fake.requests == 2


async def test_body_that_is_not_json_is_an_error_not_a_crash(fake: FakeLLM) -> None:
    fake.add_faults("bad_body")
    async with client_for(fake.url) as client:
        with pytest.raises(LLMError, match="not a chat completion"):
            await ask(client)


async def test_unreachable_endpoint_one_message() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    sleeps = Sleeps()
    async with client_for(url, sleeps, llm_max_retries=2) as client:
        with pytest.raises(LLMUnreachableError) as info:
            await ask(client)
        with pytest.raises(LLMUnreachableError) as checked:
            await client.check()
    expected = (
        f"cannot reach the LLM at {url} (connection refused); "
        "set NERLOOP_LLM_BASE_URL or start the server"
    )
    assert str(info.value) == expected and str(checked.value) == expected
    assert info.value.attempts == 3 and len(sleeps.calls) == 2


async def test_check_passes_on_a_live_server(fake: FakeLLM) -> None:
    async with client_for(fake.url) as client:
        await client.check()
    assert fake.stats.model_requests == 1


async def test_concurrency_limit_is_never_exceeded() -> None:
    with FakeLLM(GOLD, latency=0.2) as fake:
        async with client_for(fake.url, llm_concurrency=3) as client:
            await asyncio.gather(*(ask(client) for _ in range(12)))
        assert fake.requests == 12
        assert 1 < fake.stats.max_in_flight <= 3


async def test_rate_limit_spaces_requests(fake: FakeLLM) -> None:
    sleeps = Sleeps()
    async with client_for(fake.url, sleeps, llm_requests_per_minute=600) as client:
        await asyncio.gather(*(ask(client) for _ in range(5)))
    # 600/min is one start every 0.1 s: four of the five starts wait, the last ~0.4 s.
    assert len(sleeps.calls) == 4 and 0.3 < max(sleeps.calls) <= 0.4


async def test_api_key_is_sent_and_never_in_error_messages(fake: FakeLLM) -> None:
    fake.add_faults("401_echo")
    async with client_for(fake.url, llm_api_key=KEY) as client:
        with pytest.raises(LLMError) as info:
            await ask(client)
    assert fake.stats.auth_headers == [f"Bearer {KEY}"]
    assert KEY not in str(info.value) and "***" in str(info.value)
    assert KEY not in repr(settings_for(fake.url, llm_api_key=KEY))


async def test_api_key_with_a_trailing_newline_still_works(fake: FakeLLM) -> None:
    async with client_for(fake.url, llm_api_key=KEY + "\n") as client:
        await ask(client)
    assert fake.stats.auth_headers == [f"Bearer {KEY}"]


def test_credentials_in_base_url_are_not_shown() -> None:
    url = f"http://user:pw@127.0.0.1:{free_port()}/v1"

    async def run() -> str:
        async with client_for(url, llm_max_retries=0) as client:
            try:
                await ask(client)
            except LLMUnreachableError as exc:
                return str(exc)
        return ""

    message = asyncio.run(run())
    assert "pw" not in message and message.startswith("cannot reach the LLM at http://127.0.0.1")


MALFORMED_URLS = [
    "http://[bad/v1",
    "localhost:11434/v1",
    "ftp://127.0.0.1/v1",
    "http://127.0.0.1:99999/v1",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_settings_refuse_a_malformed_base_url(url: str) -> None:
    with pytest.raises(SettingsError, match=r"field llm_base_url: .*not a usable URL"):
        load_settings(None, llm_base_url=url, llm_model="m")


@pytest.mark.parametrize("url", MALFORMED_URLS)
async def test_malformed_base_url_is_one_message(url: str) -> None:
    # Settings refuse these (above); a client given one anyway (settings built without
    # validation) still says one line instead of raising from the socket layer.
    settings = Settings.model_construct(
        **{**Settings().model_dump(), "llm_base_url": url, "llm_model": "fake-model"}
    )
    async with LLMClient(settings, sleep=Sleeps()) as client:
        with pytest.raises(LLMUnreachableError) as info:
            await ask(client)
        with pytest.raises(LLMUnreachableError):
            await client.check()
    assert str(info.value).startswith("cannot reach the LLM at ")
    assert str(info.value).endswith("set NERLOOP_LLM_BASE_URL or start the server")
