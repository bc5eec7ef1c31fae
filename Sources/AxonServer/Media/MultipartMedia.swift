import Foundation
import Hummingbird
import MatrixModel
import NIOCore

/// The `multipart/mixed` body of federation media responses (spec "Content repository",
/// `/_matrix/federation/v1/media/download`): a JSON metadata part, then either the bytes
/// with their own Content-Type or a `Location` header naming where to get them.
enum MultipartMedia {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The metadata part and the media part's headers may take at most this much.
    static let maxHeadBytes = 64 * 1024

    static func boundary(contentType: String?) -> String? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/mixed") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return (1...70).contains(value.utf8.count) ? value : nil
            }
        }
        return nil
    }

    /// The response body for one stored file: metadata `{}`, then the file streamed.
    static func body(contentType: String, disposition: String?, files: MediaFiles, sha256: String, boundary: String) -> ResponseBody {
        var head = "--\(boundary)\r\nContent-Type: application/json\r\n\r\n{}\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\n"
        if let disposition { head += "Content-Disposition: \(disposition)\r\n" }
        head += "\r\n"
        let opening = head
        let tail = "\r\n--\(boundary)--\r\n"
        return ResponseBody { writer in
            try await writer.write(ByteBuffer(string: opening))
            try await files.write(sha256, to: &writer)
            try await writer.write(ByteBuffer(string: tail))
            try await writer.finish(nil)
        }
    }

    /// The parsed head of a multipart media response and a sequence of the media bytes.
    struct Parsed: Sendable {
        var headers: [String: String]
        var content: Content
    }

    /// Reads the head (metadata and the media part's headers) from `body`; the rest of the
    /// media part streams through `content`, without the closing delimiter.
    static func parse<Body: AsyncSequence & Sendable>(_ body: Body, boundary: String) async throws -> Parsed
    where Body.Element == ByteBuffer {
        let reader = Reader(body.makeAsyncIterator(), delimiter: Array("\r\n--\(boundary)".utf8))
        let opening = Array("--\(boundary)\r\n".utf8)
        var head: [UInt8] = []
        while true {
            if let parsed = try headOfMediaPart(head, opening: opening, delimiter: reader.delimiter) {
                reader.pending = Array(head[parsed.contentStart...])
                return Parsed(headers: parsed.headers, content: Content(reader: reader))
            }
            guard head.count < maxHeadBytes, let chunk = try await reader.upstream() else {
                throw Malformed(description: "no media part in the first \(maxHeadBytes) bytes")
            }
            head += chunk
        }
    }

    private static func headOfMediaPart(_ bytes: [UInt8], opening: [UInt8], delimiter: [UInt8]) throws -> (headers: [String: String], contentStart: Int)? {
        guard let first = bytes.firstRange(of: opening) else { return nil }
        let separator = Array("\r\n\r\n".utf8)
        guard let metadataHeadersEnd = bytes[first.upperBound...].firstRange(of: separator) else { return nil }
        guard let metadataEnd = bytes[metadataHeadersEnd.upperBound...].firstRange(of: delimiter) else { return nil }
        let partStart = metadataEnd.upperBound + 2
        guard bytes.count >= partStart, let headersEnd = bytes[partStart...].firstRange(of: separator) else { return nil }
        guard bytes[metadataEnd.upperBound..<partStart].elementsEqual(Array("\r\n".utf8)) else {
            throw Malformed(description: "the metadata part is not followed by another part")
        }
        var headers: [String: String] = [:]
        for line in String(decoding: bytes[partStart..<headersEnd.lowerBound], as: UTF8.self).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (headers, headersEnd.upperBound)
    }

    /// The media bytes: passed on as they arrive, holding back only as much as could be the
    /// start of the closing delimiter.
    struct Content: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let reader: Reader

        struct AsyncIterator: AsyncIteratorProtocol {
            let reader: Reader
            mutating func next() async throws -> ByteBuffer? { try await reader.next() }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(reader: reader) }
    }

    /// Upstream iteration state. Only one consumer ever reads it, strictly in turn (the
    /// parse, then the one file write), which is why it may cross tasks unchecked.
    final class Reader: @unchecked Sendable {
        private let nextChunk: () async throws -> [UInt8]?
        let delimiter: [UInt8]
        var pending: [UInt8] = []
        private var finished = false

        init<Iterator: AsyncIteratorProtocol>(_ iterator: Iterator, delimiter: [UInt8]) where Iterator.Element == ByteBuffer {
            var iterator = iterator
            nextChunk = { try await iterator.next().map { Array(buffer: $0) } }
            self.delimiter = delimiter
        }

        func upstream() async throws -> [UInt8]? { try await nextChunk() }

        func next() async throws -> ByteBuffer? {
            while !finished {
                if let end = pending.firstRange(of: delimiter) {
                    finished = true
                    let last = Array(pending[..<end.lowerBound])
                    pending = []
                    return last.isEmpty ? nil : ByteBuffer(bytes: last)
                }
                let safe = pending.count - (delimiter.count - 1)
                if safe > 0 {
                    let out = Array(pending[..<safe])
                    pending.removeFirst(safe)
                    return ByteBuffer(bytes: out)
                }
                guard let chunk = try await nextChunk() else { throw Malformed(description: "the body ended inside the media part") }
                pending += chunk
            }
            return nil
        }
    }
}
