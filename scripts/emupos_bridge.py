#!/usr/bin/env python3
"""Run the third-party `emupos` simulator headless, in shapes a Rust integration test can drive.

emupos (pinned by scripts/svc/emupos.sh) does the device work: it tokenizes and renders the
ESC/POS bytes, answers DLE EOT / GS r, and writes scans to serial ports. This script only
builds an emupos configuration, runs emupos's own daemon (`emupos.daemon.server.serve`, the
entry point of `emupos run`) or `Simulator`, and turns emupos's events into JSON lines.

Sub-commands
  printer   ESC/POS printer on TCP (and optionally an emupos-made serial pty). Every receipt
            emupos completes (cut, connection closed, or idle timeout) becomes one JSON line
            in --out. Runs until SIGTERM/SIGINT.
  scan      One scan, written by emupos's serial scanner to an existing tty (e.g. one end of
            a socat pty pair), then exit 0 once emupos reports `scanner.scan.delivered`.
  scanner   Long-running serial scanner: emupos creates a pty (or opens --device); each line
            read on stdin is scanned; stdin EOF stops it.

Readiness: `printer` and `scanner` print exactly one JSON line on stdout once every endpoint
is listening/open, e.g. {"event": "ready", "tcp": "127.0.0.1:9100", ...}, and nothing else on
stdout afterwards (`scanner` then prints one {"event": "delivered"|"rejected"} line per stdin
line). A start-up failure prints {"event": "error", "message": ...} and exits 1.
Diagnostics (emupos warnings) go to stderr.

Run with the venv python that scripts/svc/emupos.sh prints.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from emupos.config import LoadedConfig, parse_config
from emupos.daemon.runtime import StartupError
from emupos.daemon.server import serve
from emupos.daemon.simulator import Simulator
from emupos.events import EventType, PublishedEvent
from emupos.printer.printer import Printer
from emupos.scanner.scanner import Scanner, ScanRejectedError

# Our suffix names -> (emupos scanner `suffix`, bytes appended to the scan data).
# emupos's serial scanner knows enter (CR), tab and none; CRLF and LF are sent as part of the data
# with suffix none, which emupos's serial mode writes verbatim (UTF-8).
SUFFIXES = {
    "cr": ("enter", ""),
    "crlf": ("none", "\r\n"),
    "lf": ("none", "\n"),
    "tab": ("tab", ""),
    "none": ("none", ""),
}

_QR = re.compile(r"^\[qr (.*)\]$", re.S)
_BARCODE = re.compile(r"^\[barcode (\S+) (.*)\]$")
_IMAGE = re.compile(r"^\[image (\d+)x(\d+)\]$")


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _load(devices: list[dict[str, Any]], api_host: str, api_port: int) -> LoadedConfig:
    config = {"schema": 1, "api": {"host": api_host, "port": api_port}, "devices": devices}
    text = yaml.safe_dump(config, allow_unicode=True)
    return parse_config(text, "emupos_bridge configuration", Path.cwd())


def _endpoints(simulator: Simulator) -> dict[str, list[dict[str, Any]]]:
    return {
        device_id: [
            {key: value for key, value in asdict(endpoint).items() if value is not None}
            for endpoint in simulator.runtime(device_id).endpoints
        ]
        for device_id in simulator.device_ids()
    }


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("emupos %(levelname)s: %(message)s"))
    logger = logging.getLogger("emupos")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


# --- receipts --------------------------------------------------------------------------------


def parse_dump(text: str) -> dict[str, Any]:
    """Split emupos's text dump into lines and the block markers emupos writes for QR codes
    (`[qr DATA]`), barcodes (`[barcode SYMBOLOGY HRI]`) and images (`[image WxH]`).

    A QR payload containing a newline spans several dump lines; they are joined back.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the dump always ends with one newline
    qr: list[str] = []
    barcodes: list[dict[str, str]] = []
    images: list[dict[str, int]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("[qr "):
            end = index
            while not lines[end].endswith("]") and end + 1 < len(lines):
                end += 1
            if match := _QR.match("\n".join(lines[index : end + 1])):
                qr.append(match.group(1))
                index = end + 1
                continue
        elif match := _BARCODE.match(line):
            barcodes.append({"symbology": match.group(1), "hri": match.group(2)})
        elif match := _IMAGE.match(line):
            images.append({"width": int(match.group(1)), "height": int(match.group(2))})
        index += 1
    return {"lines": lines, "qr": qr, "barcodes": barcodes, "images": images}


def reinterpret(lines: list[str], encoding: str) -> list[str]:
    """emupos prints every byte >= 0x80 as one character of the active single-byte code page
    (PC437 by default; FS & Kanji mode is accepted but ignored). PC437 maps all 256 bytes
    one-to-one, so a dump line can be turned back into the bytes that were printed and decoded as
    `encoding` (e.g. gb18030). A line PC437 cannot encode (a QR marker holding non-ASCII, another
    code page, or U+FFFD for a byte emupos could not map) is kept as emupos wrote it."""
    result = []
    for line in lines:
        try:
            result.append(line.encode("cp437").decode(encoding, errors="replace"))
        except UnicodeEncodeError:
            result.append(line)
    return result


def run_printer(args: argparse.Namespace) -> int:
    if args.link_dir:
        os.environ["TMPDIR"] = args.link_dir  # emupos publishes pty links in $TMPDIR/emupos/
    port = args.port or _free_port(args.host)
    api_port = args.api_port or _free_port(args.api_host)
    receipts_dir = Path(args.receipts_dir or tempfile.mkdtemp(prefix="emupos-receipts-"))
    connections: list[dict[str, Any]] = [{"tcp": {"host": args.host, "port": port}}]
    if args.serial_link:
        connections.append({"serial": {"pty": True, "link": args.serial_link}})
    if args.serial_device:
        connections.append({"serial": {"port": args.serial_device}})
    device = {
        "id": args.device_id,
        "type": "printer",
        "profile": args.profile,
        "connections": connections,
        "job_idle_timeout_ms": args.idle_timeout_ms,
        "receipts_dir": str(receipts_dir.resolve()),
    }
    try:
        loaded = _load([device], args.api_host, api_port)
    except Exception as error:  # ConfigError and friends: report, do not start
        _emit({"event": "error", "message": str(error)})
        return 1

    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run
    events_out = open(args.events, "a", encoding="utf-8") if args.events else None  # noqa: SIM115
    pending: dict[str, list[dict[str, Any]]] = {}  # device -> problems since its last receipt

    def on_event(simulator: Simulator, published: PublishedEvent) -> None:
        event = published.event
        if events_out is not None:
            events_out.write(json.dumps(published.to_json(), ensure_ascii=False) + "\n")
            events_out.flush()
        if event.type in (EventType.PRINTER_COMMAND_UNKNOWN, EventType.PRINTER_CODEPAGE_UNSUPPORTED):
            pending.setdefault(event.device_id, []).append(
                {"type": str(event.type), **dict(event.data)}
            )
            return
        if event.type != EventType.PRINTER_JOB_COMPLETED:
            return
        printer = simulator.runtime(event.device_id).device
        assert isinstance(printer, Printer)
        store = simulator.receipt_store(printer)
        receipt_id = str(event.data["receipt_id"])
        meta = store.get(event.device_id, receipt_id)
        text = store.text(event.device_id, receipt_id) or ""
        record: dict[str, Any] = {
            "kind": "receipt",
            "receipt_id": receipt_id,
            "device_id": event.device_id,
            "completed_at": published.to_json()["at"],
            "boundary": event.data["boundary"],  # cut | connection-closed | idle-timeout
            "cut": event.data["boundary"] == "cut",
            "width_dots": meta.width_dots if meta else None,
            "height_dots": meta.height_dots if meta else None,
            "text": text,
            **parse_dump(text),
            "png": str(store.directory / f"{receipt_id}.png"),
            "problems": pending.pop(event.device_id, []),
        }
        if args.reinterpret:
            record[f"lines_{args.reinterpret}"] = reinterpret(record["lines"], args.reinterpret)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    def started(simulator: Simulator) -> None:
        for published in simulator.startup_events:
            on_event(simulator, published)
        simulator.bus.subscribe(lambda published: on_event(simulator, published))
        api = loaded.config.api
        ready: dict[str, Any] = {
            "event": "ready",
            "emupos": _version(),
            "device_id": args.device_id,
            "tcp": f"{args.host}:{port}",
            "api": f"http://{api.host}:{api.port}",
            "out": str(Path(args.out).resolve()),
            "receipts_dir": str(receipts_dir.resolve()),
            "endpoints": _endpoints(simulator)[args.device_id],
            "pid": os.getpid(),
        }
        _emit(ready)
        if args.stop_on_stdin_eof:
            _stop_on_stdin_eof()

    _log_to_stderr()
    try:
        serve(loaded, started)
    except StartupError as error:
        _emit({"event": "error", "message": str(error)})
        return 1
    finally:
        out.close()
        if events_out is not None:
            events_out.close()
    return 0


def _stop_on_stdin_eof() -> None:
    def watch() -> None:
        while sys.stdin.buffer.read(65536):
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # emupos's own clean shutdown path

    threading.Thread(target=watch, daemon=True).start()


def _version() -> str:
    from importlib.metadata import version

    return version("emupos")


# --- scanner ---------------------------------------------------------------------------------


def _scanner_device(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "link", None):
        serial: dict[str, Any] = {"pty": True, "link": args.link}
    else:
        serial = {"port": args.device}
    return {
        "id": args.device_id,
        "type": "scanner",
        "mode": "serial",
        "suffix": SUFFIXES[args.suffix][0],
        "connections": [{"serial": serial}],
    }


async def _scan_once(simulator: Simulator, scanner: Scanner, data: str, timeout: float) -> str:
    """Ask emupos's scanner for one scan and wait for its `scanner.scan.delivered` event."""
    loop = asyncio.get_running_loop()
    delivered: asyncio.Future[str] = loop.create_future()
    wanted: list[str] = []

    def on_event(published: PublishedEvent) -> None:
        event = published.event
        if (
            event.type == EventType.SCANNER_SCAN_DELIVERED
            and wanted
            and event.data.get("id") == wanted[0]
            and not delivered.done()
        ):
            delivered.set_result(str(event.data["id"]))

    unsubscribe = simulator.bus.subscribe(on_event)
    try:
        accepted = simulator.request_scan(scanner, data, 0, False)
        wanted.append(accepted.id)
        return await asyncio.wait_for(delivered, timeout)
    finally:
        unsubscribe()


def run_scan(args: argparse.Namespace) -> int:
    """One scan onto an existing tty, via emupos's Simulator without the control API."""
    device = _scanner_device(args)
    data = args.code + SUFFIXES[args.suffix][1]

    async def main() -> int:
        try:
            loaded = _load([device], "127.0.0.1", 1)  # the API port is never bound here
        except Exception as error:
            _emit({"event": "error", "message": str(error)})
            return 1
        simulator = Simulator(loaded)
        try:
            await simulator.start()
        except StartupError as error:
            _emit({"event": "error", "message": str(error)})
            return 1
        try:
            scanner = simulator.runtime(args.device_id).device
            assert isinstance(scanner, Scanner)
            scan_id = await _scan_once(simulator, scanner, data, args.timeout)
            _emit({"event": "delivered", "id": scan_id, "data": data, "suffix": args.suffix})
            return 0
        except ScanRejectedError as error:
            _emit({"event": "rejected", "code": error.code, "message": str(error)})
            return 1
        except TimeoutError:
            _emit({"event": "error", "message": f"no delivery within {args.timeout} s"})
            return 1
        finally:
            await simulator.stop()

    _log_to_stderr()
    return asyncio.run(main())


def run_scanner(args: argparse.Namespace) -> int:
    """Long-running scanner: one scan per stdin line; control API for `emupos scan` too."""
    if args.link_dir:
        os.environ["TMPDIR"] = args.link_dir
    api_port = args.api_port or _free_port("127.0.0.1")
    try:
        loaded = _load([_scanner_device(args)], "127.0.0.1", api_port)
    except Exception as error:
        _emit({"event": "error", "message": str(error)})
        return 1
    suffix_data = SUFFIXES[args.suffix][1]
    keep: list[asyncio.Task[None]] = []  # a reference, so the consumer task is not collected

    def started(simulator: Simulator) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def read_stdin() -> None:
            for raw in sys.stdin.buffer:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                loop.call_soon_threadsafe(lines.put_nowait, text)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        async def consume() -> None:
            scanner = simulator.runtime(args.device_id).device
            assert isinstance(scanner, Scanner)
            while (code := await lines.get()) is not None:
                if not code:
                    continue
                data = code + suffix_data
                try:
                    scan_id = await _scan_once(simulator, scanner, data, args.timeout)
                    _emit({"event": "delivered", "id": scan_id, "data": data, "suffix": args.suffix})
                except ScanRejectedError as error:
                    _emit({"event": "rejected", "code": error.code, "message": str(error)})
                except TimeoutError:
                    _emit({"event": "rejected", "code": "timeout", "message": data})
            os.kill(os.getpid(), signal.SIGTERM)  # stdin closed: emupos's clean shutdown

        keep.append(loop.create_task(consume()))
        endpoints = _endpoints(simulator)[args.device_id]
        ready = {
            "event": "ready",
            "emupos": _version(),
            "device_id": args.device_id,
            "api": f"http://127.0.0.1:{api_port}",
            "endpoints": endpoints,
            # The path the Rust scanner driver opens: emupos's published link, or --device's peer.
            "read_from": endpoints[0].get("link_path") or None,
            "pid": os.getpid(),
        }
        _emit(ready)
        threading.Thread(target=read_stdin, daemon=True).start()

    _log_to_stderr()
    try:
        serve(loaded, started)
    except StartupError as error:
        _emit({"event": "error", "message": str(error)})
        return 1
    return 0


# --- command line ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("printer", help="ESC/POS printer; receipts as JSON lines")
    p.add_argument("--port", type=int, default=9100, help="TCP port; 0 picks a free one")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--out", required=True, help="JSON-lines file, one line per receipt (appended)")
    p.add_argument("--events", help="also append every emupos event as a JSON line here")
    p.add_argument("--serial-link", metavar="NAME",
                   help="also a serial printer: emupos makes a pty at $TMPDIR/emupos/NAME")
    p.add_argument("--serial-device", metavar="PATH",
                   help="also a serial printer on an existing tty (e.g. a socat pty end)")
    p.add_argument("--link-dir", help="sets TMPDIR, so links go to LINK_DIR/emupos/NAME")
    p.add_argument("--profile", default="epson-tm-t20iii",
                   help="epson-tm-t20iii | xprinter-xp80t | rongta-rp326 | path to a profile")
    p.add_argument("--device-id", default="front")
    p.add_argument("--idle-timeout-ms", type=int, default=2000,
                   help="a job with no cut ends after this much silence")
    p.add_argument("--receipts-dir", help="where emupos keeps PNG/TXT/JSON (default: a temp dir)")
    p.add_argument("--api-host", default="127.0.0.1")
    p.add_argument("--api-port", type=int, default=0, help="control API port; 0 picks a free one")
    p.add_argument("--reinterpret", metavar="ENCODING",
                   help="add lines_ENCODING: dump lines turned back into bytes via PC437 and "
                        "decoded as ENCODING (e.g. gb18030); see reinterpret()")
    p.add_argument("--stop-on-stdin-eof", action="store_true")
    p.set_defaults(run=run_printer)

    for name, helptext in (("scan", "one scan onto an existing tty, then exit"),
                           ("scanner", "long-running scanner; one scan per stdin line")):
        s = sub.add_parser(name, help=helptext)
        where = s.add_mutually_exclusive_group(required=True)
        where.add_argument("--device", help="existing tty emupos writes to (e.g. /tmp/scanA)")
        if name == "scanner":
            where.add_argument("--link", help="emupos makes a pty at $TMPDIR/emupos/LINK")
            s.add_argument("--link-dir", help="sets TMPDIR, so the link is LINK_DIR/emupos/LINK")
            s.add_argument("--api-port", type=int, default=0)
        else:
            s.add_argument("--code", required=True)
        s.add_argument("--suffix", choices=sorted(SUFFIXES), default="crlf")
        s.add_argument("--device-id", default="scanner")
        s.add_argument("--timeout", type=float, default=10.0)
        s.set_defaults(run=run_scan if name == "scan" else run_scanner)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
