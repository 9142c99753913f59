"""HTTP/2 protocol code (RFC 9113, RFC 7541): framing, header blocks, settings, flow control.

Nothing here knows about tools, routing or policy; the relay builds on it.
"""
