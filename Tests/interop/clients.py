"""Helpers shared by the interop tests."""
import uuid

from nio import AsyncClient


async def nio_user(axon, prefix, password):
    """A freshly registered matrix-nio client with a random user name."""
    name = prefix + uuid.uuid4().hex[:10]
    client = AsyncClient(axon.base_url, name)
    await client.register(name, password)
    return client
