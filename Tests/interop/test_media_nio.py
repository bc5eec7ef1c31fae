"""Media through matrix-nio (which uses the authenticated /_matrix/client/v1/media API):
upload, download and a thumbnail made by the server's image library."""
import io
import struct
import uuid
import zlib

import requests
from nio import AsyncClient, DownloadResponse, ThumbnailResponse, UploadResponse
from nio.api import ResizingMethod

PASSWORD = "media password"


def png(width, height):
    """A real RGBA PNG, built by hand so the test needs no imaging library."""
    rows = b"".join(b"\x00" + bytes((x * 3 % 256, y * 5 % 256, 90, 255) [i] for x in range(width) for i in range(4))
                    for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def png_size(data):
    return struct.unpack(">II", data[16:24])


async def test_upload_download_and_thumbnail(axon):
    name = "m" + uuid.uuid4().hex[:10]
    client = AsyncClient(axon.base_url, name)
    await client.register(name, PASSWORD)
    try:
        image = png(300, 200)
        uploaded, _ = await client.upload(io.BytesIO(image), content_type="image/png", filename="photo.png", filesize=len(image))
        assert isinstance(uploaded, UploadResponse), uploaded
        downloaded = await client.download(mxc=uploaded.content_uri)
        assert isinstance(downloaded, DownloadResponse), downloaded
        assert downloaded.body == image and downloaded.content_type == "image/png" and downloaded.filename == "photo.png"

        server, media_id = uploaded.content_uri[len("mxc://"):].split("/")
        thumb = await client.thumbnail(server, media_id, 96, 96, method=ResizingMethod.scale)
        assert isinstance(thumb, ThumbnailResponse), thumb
        assert thumb.content_type == "image/png" and png_size(thumb.body) == (96, 64)
        cropped = await client.thumbnail(server, media_id, 32, 32, method=ResizingMethod.crop)
        assert png_size(cropped.body) == (32, 32)

        # Without a token there is nothing to download.
        assert requests.get(f"{axon.base_url}/_matrix/client/v1/media/download/{server}/{media_id}").status_code == 401
    finally:
        await client.close()
