"""Derive (formerly Lyra): a self-custodial options and perpetuals venue (JSON-RPC 2.0 over
WebSocket; EIP-191 logins and EIP-712-signed orders). See docs/live-derive.md."""
