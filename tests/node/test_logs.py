"""Log lines (node.logs): JSON objects one a line or readable text, only the known fields, and the [log] section."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from node.config import ConfigError, read_config
from node.logs import PeerName, configure

NODE = '[node]\nname = "Stadt A"\nurl = "https://praevnet.musterstadt.de"\n'


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Always a terminal."""
        return True


@pytest.fixture
def root() -> Iterator[None]:
    """Give the root logger back its handlers and level after the test (pytest's own capture among them)."""
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    try:
        yield
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    """The lines written to `stream` so far."""
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_event_and_the_structured_fields(root: None) -> None:
    stream = io.StringIO()
    configure("auto", "info", stream)  # not a terminal: JSON
    bonn = PeerName("n" * 26, "Bonn")
    logging.getLogger("praevnet.delivery").info(
        "delivered %d envelope(s) to %s",
        2,
        bonn,
        extra=bonn.fields(event="delivery.sent", txn_id="t1", outcome="delivered", duration=0.12345, stray="x"),
    )
    [line] = lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "info"
    assert entry["event"] == "delivery.sent"
    assert entry["message"] == f"delivered 2 envelope(s) to Bonn ({'n' * 26})"
    assert (entry["peer"], entry["peer_name"], entry["txn_id"]) == ("n" * 26, "Bonn", "t1")
    assert entry["outcome"] == "delivered"
    assert entry["duration"] == 0.123
    assert entry["time"].endswith("Z")
    assert "stray" not in entry  # only the fields node.logs knows are written


def test_an_error_s_traceback_stays_inside_its_one_json_line(root: None) -> None:
    stream = io.StringIO()
    configure("json", "info", stream)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("praevnet.worker").exception("delivery loop")
    [line] = lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["event"] == "praevnet.worker"  # no event given: the logger's name
    assert "ValueError: broken" in entry["error"]


def test_text_on_a_terminal_and_when_asked_for(root: None) -> None:
    for stream, chosen in ((Terminal(), "auto"), (io.StringIO(), "text")):
        configure(chosen, "info", stream)
        logging.getLogger("praevnet.pull").info("pulled", extra={"txn_id": "t9", "event": "pull.done"})
        [line] = lines(stream)
        assert " INFO praevnet.pull: pulled [txn=t9]" in line
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_a_peer_without_a_known_name_is_named_by_its_id() -> None:
    assert str(PeerName("abc")) == "abc"
    assert str(PeerName("abc", "Bonn")) == "Bonn (abc)"


def test_the_level_leaves_out_less_important_lines(root: None) -> None:
    stream = io.StringIO()
    configure("json", "warning", stream)
    logging.getLogger("praevnet.x").info("not shown")
    logging.getLogger("praevnet.x").warning("shown")
    assert [json.loads(line)["message"] for line in lines(stream)] == ["shown"]


async def test_a_malformed_http_request_is_one_info_line_without_its_bytes(root: None) -> None:
    from aiohttp import web

    stream = io.StringIO()
    configure("json", "info", stream)
    runner = web.AppRunner(web.Application(), access_log=None)  # as `praevnet serve` runs it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: SECRET-COOKIE-4711\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.0 400")
        writer.close()
    finally:
        await runner.cleanup()
    [entry] = [json.loads(line) for line in lines(stream)]
    assert (entry["level"], entry["event"], entry["status"]) == ("info", "http.malformed", 400)
    assert entry["remote"] == "127.0.0.1"
    assert "SECRET-COOKIE-4711" not in stream.getvalue()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[log]\nformat = "xml"\n', 'config: log.format = "xml": must be one of auto, json, text'),
        ('[log]\nlevel = "loud"\n', 'config: log.level = "loud": must be one of debug, info, warning, error'),
        ('[log]\nlevel = "INFO"\n', 'config: log.level = "INFO": must be one of debug, info, warning, error'),
        ("[log]\nlevel = 3\n", "config: log.level = 3: must be text"),
        ('[log]\ncolour = "red"\n', "config: unknown setting log.colour in [log]"),
    ],
)
def test_a_bad_log_setting_is_refused_naming_key_value_and_what_is_allowed(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        read_config(NODE + section, {})
    assert refused.value.problems == [message]


def test_a_bad_log_variable_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError) as refused:
        read_config(NODE, {"PRAEVNET_LOG__FORMAT": "yaml"})
    assert refused.value.problems == [
        'config: log.format = "yaml" (from PRAEVNET_LOG__FORMAT): must be one of auto, json, text'
    ]


def test_the_log_section_defaults_and_takes_every_allowed_value() -> None:
    assert (read_config(NODE, {}).config.log.format, read_config(NODE, {}).config.log.level) == ("auto", "info")
    for chosen in ("auto", "json", "text"):
        assert read_config(NODE + f'[log]\nformat = "{chosen}"\n', {}).config.log.format == chosen
    for level in ("debug", "info", "warning", "error"):
        assert read_config(NODE, {"PRAEVNET_LOG__LEVEL": level}).config.log.level == level
