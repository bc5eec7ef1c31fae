import AsyncHTTPClient
import AxonStorage
import Foundation
import Logging
import MatrixModel
import NIOCore

/// Media of other servers for local clients (spec "Content repository", federation): fetched
/// once with `/_matrix/federation/v1/media/download|thumbnail`, streamed to disk under the
/// upload size limit, and served from the local copy after that. A `Location` answer is
/// followed (unsigned, through the federation address rules) for a few hops.
struct RemoteMedia: Sendable {
    let storage: any Storage
    let client: FederationClient
    let files: MediaFiles
    let maxBytes: Int64
    let logger: Logger
    static let timeout: Duration = .seconds(60)
    static let maxRedirects = 5

    func original(origin: String, mediaID: String) async throws -> RemoteMediaRecord {
        try await fetch(origin: origin, mediaID: mediaID, variant: "", path: "/_matrix/federation/v1/media/download/\(PercentEncoding.component(mediaID))")
    }

    func thumbnail(origin: String, mediaID: String, width: Int, height: Int, method: String) async throws -> RemoteMediaRecord {
        try await fetch(
            origin: origin, mediaID: mediaID, variant: "\(width)x\(height)-\(method)",
            path: "/_matrix/federation/v1/media/thumbnail/\(PercentEncoding.component(mediaID))?width=\(width)&height=\(height)&method=\(method)")
    }

    private func fetch(origin: String, mediaID: String, variant: String, path: String) async throws -> RemoteMediaRecord {
        // Quarantined by an admin: neither served from the cache nor fetched again.
        if try await storage.mediaQuarantine(origin: origin, mediaID: mediaID) != nil { throw MatrixError.notFound("Media not found") }
        if let cached = try await storage.remoteMedia(origin: origin, mediaID: mediaID, variant: variant) { return cached }
        guard client.mayFederate(with: origin) else { throw MatrixError.notFound("Media from \(origin) is not available here") }
        let response: HTTPClientResponse
        do {
            response = try await client.streamingGET(destination: origin, path: path, timeout: Self.timeout)
        } catch {
            throw Self.failure(origin, error)
        }
        if response.status == .notFound { throw MatrixError.notFound("\(origin) has no such media") }
        guard response.status == .ok else { throw MatrixError(502, "M_UNKNOWN", "\(origin) answered the media request with HTTP \(response.status.code)") }
        guard let boundary = MultipartMedia.boundary(contentType: response.headers.first(name: "Content-Type")) else {
            throw MatrixError(502, "M_UNKNOWN", "\(origin) did not answer with multipart/mixed media")
        }
        do {
            let parsed = try await MultipartMedia.parse(response.body, boundary: boundary)
            let stored: (sha256: String, size: Int64)
            var contentType = parsed.headers["content-type"]
            if let location = parsed.headers["location"] {
                let redirected = try await follow(location)
                contentType = redirected.headers.first(name: "Content-Type")
                stored = try await store(redirected.body, declaredLength: redirected.headers.first(name: "Content-Length"))
            } else {
                stored = try await store(parsed.content, declaredLength: nil)
            }
            let record = RemoteMediaRecord(
                origin: origin, mediaID: mediaID, variant: variant, contentType: contentType,
                filename: Self.filename(contentDisposition: parsed.headers["content-disposition"]), sha256: stored.sha256,
                size: stored.size, fetchedAt: nowMillis())
            try await storage.saveRemoteMedia(record)
            return record
        } catch let error as MatrixError {
            throw error
        } catch {
            throw Self.failure(origin, error)
        }
    }

    private func store<Body: AsyncSequence & Sendable>(_ body: Body, declaredLength: String?) async throws -> (sha256: String, size: Int64)
    where Body.Element == ByteBuffer {
        if let declared = declaredLength.flatMap(Int64.init), declared > maxBytes { throw Self.tooLarge(maxBytes) }
        do {
            return try await files.store(body, maxBytes: maxBytes)
        } catch is MediaFiles.TooLarge {
            throw Self.tooLarge(maxBytes)
        }
    }

    private func follow(_ location: String) async throws -> HTTPClientResponse {
        var url = location
        for _ in 0...Self.maxRedirects {
            let response = try await client.fetchURL(url, timeout: Self.timeout)
            if (300..<400).contains(response.status.code), let next = response.headers.first(name: "Location") {
                url = URL(string: next, relativeTo: URL(string: url))?.absoluteString ?? next
                continue
            }
            guard response.status == .ok else { throw MatrixError(502, "M_UNKNOWN", "The media location answered HTTP \(response.status.code)") }
            return response
        }
        throw MatrixError(502, "M_UNKNOWN", "The media location redirected more than \(Self.maxRedirects) times")
    }

    static func tooLarge(_ limit: Int64) -> MatrixError {
        MatrixError(502, "M_TOO_LARGE", "The remote media is larger than this server's limit of \(limit) bytes")
    }

    /// A server that does not answer in time is a gateway timeout; anything else a bad gateway.
    static func failure(_ origin: String, _ error: Error) -> MatrixError {
        if let client = error as? HTTPClientError, client == .deadlineExceeded || client == .readTimeout || client == .connectTimeout {
            return MatrixError(504, "M_UNKNOWN", "\(origin) did not answer in time")
        }
        return MatrixError(502, "M_UNKNOWN", "Could not fetch from \(origin): \(error)")
    }

    /// `filename*=utf-8''…` (percent-encoded), preferred, or `filename="…"`.
    static func filename(contentDisposition: String?) -> String? {
        guard let contentDisposition else { return nil }
        var plain: String?
        for parameter in contentDisposition.split(separator: ";") {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            if pair[0].lowercased() == "filename*", let quote = pair[1].range(of: "''") {
                return String(pair[1][quote.upperBound...]).removingPercentEncoding
            }
            if pair[0].lowercased() == "filename" { plain = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return plain
    }
}
