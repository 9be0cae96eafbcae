"""The E2-style wire contract: generated protobuf code (from ``proto/``),
the codec between messages and domain types, and the transport helpers both
sides use (freshness queue, credentials)."""
