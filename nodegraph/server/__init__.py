"""The ComfyUI-compatible HTTP + WebSocket server (aiohttp): `create_app`, `nodegraph serve`."""
