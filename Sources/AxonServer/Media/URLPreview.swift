import AsyncHTTPClient
import AxonStorage
import Foundation
import MatrixModel
import NIOCore
import NIOHTTP1
import NIOSSL

/// URL previews (spec "Content repository", `preview_url`): the page is fetched under the
/// same address rules as federation (`PinnedClients`: every hop's name resolved and checked,
/// the connection pinned to the checked address), within size and time limits; its `og:` and
/// `twitter:` meta tags and `<title>` become the preview, and its image is stored as media.
/// Previews are kept per URL and hour, so a link posted in a busy room is fetched once.
struct URLPreviewer: Sendable {
    let storage: any Storage
    let files: MediaFiles
    let clients: PinnedClients
    let serverName: ServerName
    let maxImageBytes: Int64
    static let maxPageBytes = 1024 * 1024
    static let maxRedirects = 5
    static let hopTimeout: Duration = .seconds(10)
    static let bucketMs: Int64 = 3_600_000

    init(storage: any Storage, files: MediaFiles, config: AxonConfig, serverName: ServerName) {
        self.storage = storage
        self.files = files
        self.serverName = serverName
        maxImageBytes = min(Int64(config.maxUploadBytes), 10 * 1024 * 1024)
        clients = PinnedClients(
            tls: .makeClientConfiguration(), allowedRanges: config.urlPreviewIPAllowlist.compactMap(IPRange.init),
            allowlistOnly: config.urlPreviewIPAllowlistOnly, readTimeout: .seconds(10))
    }

    func preview(url: String, at ts: Int64?, userID: String) async throws -> JSONObject {
        guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme?.lowercased() ?? ""),
            components.host?.isEmpty == false
        else { throw MatrixError.invalidParam("'url' must be an http or https URL") }
        let bucket = (ts ?? nowMillis()) / Self.bucketMs
        if let cached = try await storage.urlPreview(url: url, bucket: bucket) { return cached }
        let response = try await fetch(url)
        let type = response.response.headers.first(name: "Content-Type")?.lowercased() ?? ""
        var preview: JSONObject
        if type.hasPrefix("image/") {
            preview = try await storeImage(response.response, userID: userID) ?? [:]
        } else if type.hasPrefix("text/html") || type.hasPrefix("application/xhtml") {
            let page = try await Self.readPrefix(response.response.body, limit: Self.maxPageBytes)
            preview = Self.fields(from: HTMLMeta.parse(String(decoding: page, as: UTF8.self)))
            if let image = preview["og:image"]?.stringValue, let imageURL = URL(string: image, relativeTo: URL(string: response.finalURL))?.absoluteString {
                preview["og:image"] = nil
                if let fetched = try? await fetch(imageURL), let stored = try? await storeImage(fetched.response, userID: userID) {
                    for (key, value) in stored { preview[key] = value }
                }
            }
        } else {
            throw MatrixError(502, "M_UNKNOWN", "The URL is neither a page nor an image (\(type.isEmpty ? "no content type" : type))")
        }
        if preview["og:url"] == nil { preview["og:url"] = .string(response.finalURL) }
        try await storage.saveURLPreview(url: url, bucket: bucket, preview: preview, olderThan: bucket - 24)
        return preview
    }

    /// `og:` keys first, then `twitter:` ones, then the title and description tags.
    static func fields(from page: (meta: [String: String], title: String?)) -> JSONObject {
        var fields = JSONObject()
        for (key, value) in page.meta.sorted(by: { $0.key < $1.key }) where key.hasPrefix("og:") { fields[key] = .string(value) }
        for (twitter, og) in [("twitter:title", "og:title"), ("twitter:description", "og:description"), ("twitter:image", "og:image")]
        where fields[og] == nil {
            if let value = page.meta[twitter] ?? (twitter == "twitter:image" ? page.meta["twitter:image:src"] : nil) { fields[og] = .string(value) }
        }
        if fields["og:title"] == nil, let title = page.title { fields["og:title"] = .string(title) }
        if fields["og:description"] == nil, let description = page.meta["description"] { fields["og:description"] = .string(description) }
        return fields
    }

    /// Follows redirects itself, each hop through the address rules again.
    private func fetch(_ url: String) async throws -> (response: HTTPClientResponse, finalURL: String) {
        var current = url
        for _ in 0...Self.maxRedirects {
            guard let components = URLComponents(string: current), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
                let host = components.host, !host.isEmpty
            else { throw MatrixError(502, "M_UNKNOWN", "A redirect led to \(current), which is not an http or https URL") }
            let response: HTTPClientResponse
            do {
                let client = try await clients.client(resolving: host, as: host)
                var request = HTTPClientRequest(url: current)
                request.headers.add(name: "User-Agent", value: "Axon URL preview")
                request.headers.add(name: "Accept", value: "text/html, image/*;q=0.9, */*;q=0.1")
                response = try await client.execute(request, timeout: .init(Self.hopTimeout))
            } catch let refused as PinnedClients.Refused {
                throw MatrixError.forbidden("The URL may not be previewed: \(refused)")
            } catch {
                throw RemoteMedia.failure(host, error)
            }
            if (300..<400).contains(response.status.code), let location = response.headers.first(name: "Location") {
                current = URL(string: location, relativeTo: URL(string: current))?.absoluteString ?? location
                continue
            }
            guard response.status == .ok else { throw MatrixError(502, "M_UNKNOWN", "The URL answered HTTP \(response.status.code)") }
            return (response, current)
        }
        throw MatrixError(502, "M_UNKNOWN", "The URL redirected more than \(Self.maxRedirects) times")
    }

    /// The image as local media: `og:image` (an mxc URI), its type, size and dimensions.
    private func storeImage(_ response: HTTPClientResponse, userID: String) async throws -> JSONObject? {
        if let declared = response.headers.first(name: "Content-Length").flatMap(Int64.init), declared > maxImageBytes { return nil }
        guard let type = response.headers.first(name: "Content-Type"), type.lowercased().hasPrefix("image/") else { return nil }
        let stored: (sha256: String, size: Int64)
        do {
            stored = try await files.store(response.body, maxBytes: maxImageBytes)
        } catch is MediaFiles.TooLarge {
            return nil
        }
        let mediaID = RandomString.alphanumeric(24)
        try await storage.createMedia(
            MediaRecord(
                mediaID: mediaID, uploader: userID, contentType: type, filename: nil, sha256: stored.sha256, size: stored.size,
                createdAt: nowMillis(), expiresAt: nil))
        var fields: JSONObject = [
            "og:image": .string("mxc://\(serverName)/\(mediaID)"), "og:image:type": .string(type), "matrix:image:size": .int(stored.size),
        ]
        let head = try await files.read(stored.sha256, upTo: Int(min(stored.size, 64 * 1024)))
        if let format = Thumbnailer.format(of: head), let size = ImageHeader.dimensions(head, format: format) {
            fields["og:image:width"] = .int(Int64(size.width))
            fields["og:image:height"] = .int(Int64(size.height))
        }
        return fields
    }

    /// At most `limit` bytes of the body; the rest is not read.
    static func readPrefix(_ body: HTTPClientResponse.Body, limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes += chunk.readableBytesView.prefix(limit - bytes.count)
            if bytes.count >= limit { break }
        }
        return bytes
    }
}
