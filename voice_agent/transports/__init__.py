"""Transports: how audio reaches a Session (browser websocket gateway, later phone and local audio)."""
