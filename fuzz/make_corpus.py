#!/usr/bin/env python3
"""Writes the seed corpus of decoder_fuzz into fuzz/corpus/ (committed).

Each seed is: 1 byte split mode, 1 byte split seed, then a stream of tofu
frames (docs/protocol.md §4: 16-byte big-endian header, text headers, body).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def frame(op, headers=b"", body=b"", channel=1, status=0, msg_id=1, origin=0, more=0, reserved=0):
    proto = (op & 0x0F) | (origin << 4) | (more << 5) | (reserved << 6)
    return struct.pack(">HBBQHH", channel, proto, status, msg_id, len(headers), len(body)) + headers + body


SEEDS = {
    # valid
    "hello_request": (0x01, 7, frame(3, b"~connect_to:tcp|127.0.0.1|7099\r\n", channel=5)),
    "hello_response": (0x10, 1, frame(4, b"app:demo\r\n", channel=2, msg_id=1)),
    "response_more": (0x03, 2, frame(1, body=b"ok", channel=0x1234, more=1, msg_id=0x0102030405060708)),
    "signal_engine_status": (0x7F, 3, frame(2, b"a:b\r\n", b"\x00\xff\x7f", channel=65534, origin=1, status=22,
                                             msg_id=0xDEADBEEF)),
    "empty_request": (0x00, 0, frame(0, msg_id=0)),
    "conversation": (0x05, 9, frame(3, b"~connect_to:uds|/tmp/app.sock\r\n")
                     + frame(0, b"k:v\r\nx:y:z\r\n", b"question", msg_id=2)
                     + frame(1, b"", b"answer", msg_id=2, more=1)
                     + frame(1, b"", b"last", msg_id=2)
                     + frame(5, msg_id=3) + frame(6, msg_id=3)),
    "body_4k": (0x81, 4, frame(2, b"size:4096\r\n", bytes(range(256)) * 16)),
    "status_and_reserved_bits": (0x02, 5, frame(0, body=b"r", status=200, reserved=3)),
    # invalid
    "bad_opcode_12": (0x01, 0, frame(12, b"a:b\r\n")),
    "welcome_request_on_wire": (0x01, 0, frame(8, b"~listen_on:tcp||7099\r\n")),
    "bye_signal_on_wire": (0x01, 0, frame(7)),
    "more_on_hello_response": (0x01, 0, frame(4, more=1)),
    "header_no_colon": (0x04, 0, frame(0, b"novalue\r\n", b"x")),
    "header_empty_value": (0x04, 0, frame(0, b"name:\r\n")),
    "header_empty_name": (0x04, 0, frame(0, b":value\r\n")),
    "header_missing_crlf": (0x04, 0, frame(0, b"a:b")),
    "truncated": (0x02, 0, frame(0, b"a:b\r\n", b"body")[:20]),
    "big_announced_sizes": (0xFF, 6, frame(0, b"h:" + b"v" * 100 + b"\r\n", b"")[:16] + b"\xff" * 64),
    # byte 1 high nibble: the application holds 240 KiB, so these frames
    # meet need_memory and go on once it is given back
    "pressure": (0x8F, 0xF1, frame(2, b"big:" + b"h" * 3000 + b"\r\n", b"B" * 3000)
                 + struct.pack(">HBBQHH", 1, 0, 0, 9, 0xFFFF, 0xFFFF)),
    "pressure_small_chunks": (0x07, 0xF2, frame(1, b"x:y\r\n", b"b" * 2000, msg_id=4)
                              + frame(0, b"x:y\r\n", b"b" * 62000)[:300]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (mode, seed, stream) in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([mode, seed]) + stream)


if __name__ == "__main__":
    main()
