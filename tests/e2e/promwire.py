"""promwire owns the test-side encoding of Prometheus remote_write requests (protobuf + snappy).

Written independently of the server's C decoder so the two check each other. Like a real
Prometheus sender it omits zero-valued proto3 fields (value 0.0, timestamp 0).
"""
import struct

try:
    import snappy  # Debian python3-snappy: real compression with back-references
except ImportError:  # pragma: no cover - install-deps.sh installs it
    snappy = None


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, payload):
    return varint((num << 3) | 2) + varint(len(payload)) + payload


def _b(x):
    return x if isinstance(x, bytes) else str(x).encode()


def encode_sample(t, v):
    out = b""
    if v != 0.0 or struct.pack("<d", v) != struct.pack("<d", 0.0):  # keep -0.0 and NaN
        out += b"\x09" + struct.pack("<d", v)
    if t != 0:
        out += b"\x10" + varint(t)
    return out


def encode_series(labels, samples, label_order=None):
    """labels: dict or list of (name, value); samples: list of (t_ms, value)."""
    items = list(labels.items()) if isinstance(labels, dict) else list(labels)
    if label_order is None:
        items.sort(key=lambda kv: _b(kv[0]))
    ts = bytearray()
    for name, value in items:
        ts += field_bytes(1, field_bytes(1, _b(name)) + field_bytes(2, _b(value)))
    for t, v in samples:
        ts += field_bytes(2, encode_sample(t, v))
    return bytes(ts)


def encode_write_request(series, metadata=()):
    """series: list of (labels, samples); metadata: list of (type_enum, family, help, unit)."""
    body = bytearray()
    for labels, samples in series:
        body += field_bytes(1, encode_series(labels, samples))
    for mtype, family, help_, unit in metadata:
        md = b""
        if mtype:
            md += b"\x08" + varint(mtype)
        md += field_bytes(2, _b(family))
        if help_:
            md += field_bytes(4, _b(help_))
        if unit:
            md += field_bytes(5, _b(unit))
        body += field_bytes(3, md)
    return bytes(body)


def snappy_literal(data):
    """Snappy block format with literal elements only: valid input for any decoder."""
    out = bytearray(varint(len(data)))
    i = 0
    while i < len(data):
        chunk = data[i:i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        i += len(chunk)
    return bytes(out)


def compress(data):
    if snappy is not None:
        return snappy.compress(data)
    return snappy_literal(data)


STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
