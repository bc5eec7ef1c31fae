import Crypto
import Hummingbird
import MatrixModel
import NIOCore
import _NIOFileSystem

/// Media bytes on disk, content-addressed by SHA-256 under `<data dir>/media/ab/cd/<hash>`:
/// identical uploads share one file, and a file never changes once written. Uploads are
/// streamed to a temporary file while hashed, so no upload is ever held in memory whole.
struct MediaFiles: Sendable {
    let root: String

    struct TooLarge: Error {}

    func path(_ sha256: String) -> String {
        let characters = Array(sha256)
        return "\(root)/\(String(characters[0..<2]))/\(String(characters[2..<4]))/\(sha256)"
    }

    /// Writes the stream to its content address; throws `TooLarge` past `maxBytes`.
    func store<Body: AsyncSequence>(_ body: Body, maxBytes: Int64) async throws -> (sha256: String, size: Int64)
    where Body.Element == ByteBuffer {
        let fileSystem = FileSystem.shared
        let temporaryDirectory = root + "/tmp"
        try await fileSystem.createDirectory(at: FilePath(temporaryDirectory), withIntermediateDirectories: true)
        let temporary = FilePath("\(temporaryDirectory)/\(RandomString.alphanumeric(24))")
        var hasher = SHA256()
        var size: Int64 = 0
        do {
            try await fileSystem.withFileHandle(forWritingAt: temporary, options: .newFile(replaceExisting: false)) { handle in
                try await handle.withBufferedWriter { writer in
                    for try await chunk in body {
                        size += Int64(chunk.readableBytes)
                        guard size <= maxBytes else { throw TooLarge() }
                        chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        try await writer.write(contentsOf: chunk)
                    }
                }
            }
            let sha256 = Hex.encode(hasher.finalize())
            try await moveIntoPlace(temporary, sha256: sha256)
            return (sha256, size)
        } catch {
            _ = try? await fileSystem.removeItem(at: temporary)
            throw error
        }
    }

    func store(bytes: [UInt8]) async throws -> (sha256: String, size: Int64) {
        try await store(AsyncBytes(bytes: bytes), maxBytes: .max)
    }

    private func moveIntoPlace(_ temporary: FilePath, sha256: String) async throws {
        let destination = FilePath(path(sha256))
        if try await FileSystem.shared.info(forFileAt: destination) != nil {
            _ = try await FileSystem.shared.removeItem(at: temporary)
            return
        }
        try await FileSystem.shared.createDirectory(at: destination.removingLastComponent(), withIntermediateDirectories: true)
        do {
            try await FileSystem.shared.moveItem(at: temporary, to: destination)
        } catch {
            // Another upload of the same bytes got there first.
            guard try await FileSystem.shared.info(forFileAt: destination) != nil else { throw error }
            _ = try await FileSystem.shared.removeItem(at: temporary)
        }
    }

    /// Removes a file nothing refers to any more.
    func remove(_ sha256: String) async throws {
        _ = try await FileSystem.shared.removeItem(at: FilePath(path(sha256)))
    }

    func read(_ sha256: String, upTo limit: Int) async throws -> [UInt8] {
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path(sha256))) { handle in
            Array(buffer: try await handle.readToEnd(maximumSizeAllowed: .bytes(Int64(limit))))
        }
    }

    /// The file as a streamed response body.
    func stream(_ sha256: String) -> ResponseBody {
        ResponseBody { writer in
            try await write(sha256, to: &writer)
            try await writer.finish(nil)
        }
    }

    /// The file's bytes into a response body being written, in 128 KiB chunks.
    func write(_ sha256: String, to writer: inout any ResponseBodyWriter) async throws {
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(path(sha256))) { handle in
            for try await chunk in handle.readChunks(in: 0..., chunkLength: .kibibytes(128)) {
                try await writer.write(chunk)
            }
        }
    }

    /// One buffer as an async sequence, so thumbnails go through the same store path.
    private struct AsyncBytes: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let bytes: [UInt8]

        struct AsyncIterator: AsyncIteratorProtocol {
            var pending: ByteBuffer?
            mutating func next() async -> ByteBuffer? {
                defer { pending = nil }
                return pending
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pending: ByteBuffer(bytes: bytes)) }
    }
}
