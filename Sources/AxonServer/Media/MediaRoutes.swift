import AxonStorage
import Foundation
import HTTPTypes
import Hummingbird
import MatrixModel

/// The content repository (spec authed-content-repo.yaml, content-repo.yaml): uploads
/// (direct, or `/create` then `PUT`), authenticated downloads and thumbnails, and the
/// deprecated unauthenticated endpoints, which the media freeze turns off by default.
/// Media of other servers is fetched over federation and cached (`RemoteMedia`); URL
/// previews are made by `URLPreviewer` (with `url_preview_enabled` and outbound traffic on).
extension ServerContext {
    static let maxPendingUploads = 50
    static let pendingUploadLifetimeMs: Int64 = 24 * 3600 * 1000
    static let maxDownloadWaitMs: Int64 = 60_000

    /// Types a browser may show inline; anything else downloads as an attachment, so an
    /// uploaded HTML or SVG file cannot run in the homeserver's origin.
    static let inlineContentTypes: Set<String> = [
        "text/plain", "text/csv", "application/json", "application/ld+json", "image/jpeg", "image/gif", "image/png", "image/apng",
        "image/webp", "image/avif", "video/mp4", "video/webm", "video/ogg", "video/quicktime", "audio/mp4", "audio/webm", "audio/aac",
        "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav", "audio/x-pn-wav", "audio/flac", "audio/x-flac",
    ]

    /// Where media bytes live: `<data dir>/media`.
    var mediaFiles: MediaFiles { MediaFiles(root: (config.dataDirectory as NSString).appendingPathComponent("media")) }

    func registerMediaRoutes(on routes: RouteTable) {
        let files = mediaFiles
        let remote = RemoteMedia(
            storage: storage, client: federation.client, files: files, maxBytes: Int64(config.maxUploadBytes), logger: logger)
        registerFederationMediaRoutes(on: routes, files: files)
        if config.urlPreviewEnabled, config.outboundEnabled {
            let previewer = URLPreviewer(storage: storage, files: files, config: config, serverName: serverName)
            for path in ["/_matrix/client/v1/media/preview_url", "/_matrix/media/v3/preview_url"] {
                routes.add(.get, path) { request in
                    guard let url = request.query("url"), !url.isEmpty else { throw MatrixError.missingParam("Missing 'url'") }
                    guard url.utf8.count <= 2048 else { throw MatrixError.invalidParam("'url' is too long") }
                    let ts = try request.query("ts").map { text throws(MatrixError) in
                        guard let value = Int64(text) else { throw MatrixError.invalidParam("'ts' must be an integer") }
                        return value
                    }
                    return .ok(.object(try await previewer.preview(url: url, at: ts, userID: request.user.userID)))
                }
            }
        }
        routes.add(.post, "/_matrix/media/v3/upload", streamsBody: true) { request in
            let mediaID = RandomString.alphanumeric(24)
            let stored = try await receiveUpload(request, files: files)
            try await storage.createMedia(
                MediaRecord(
                    mediaID: mediaID, uploader: request.user.userID, contentType: Self.contentType(request), filename: request.query("filename"),
                    sha256: stored.sha256, size: stored.size, createdAt: nowMillis(), expiresAt: nil))
            return .ok(["content_uri": .string("mxc://\(serverName)/\(mediaID)")])
        }
        routes.add(.post, "/_matrix/media/v1/create") { request in
            let now = nowMillis()
            guard try await storage.pendingMediaCount(uploader: request.user.userID, now: now) < Self.maxPendingUploads else {
                throw MatrixError.limitExceeded(retryAfterMs: 60_000)
            }
            let mediaID = RandomString.alphanumeric(24)
            let expires = now + Self.pendingUploadLifetimeMs
            try await storage.createMedia(
                MediaRecord(
                    mediaID: mediaID, uploader: request.user.userID, contentType: nil, filename: nil, sha256: nil, size: 0, createdAt: now,
                    expiresAt: expires))
            return .ok(["content_uri": .string("mxc://\(serverName)/\(mediaID)"), "unused_expires_at": .int(expires)])
        }
        routes.add(.put, "/_matrix/media/v3/upload/{serverName}/{mediaId}", streamsBody: true) { request in
            let mediaID = request.parameter("mediaId")
            guard request.parameter("serverName") == serverName.value, let record = try await storage.media(mediaID: mediaID) else {
                throw MatrixError.notFound("Unknown media ID")
            }
            // Refuse before reading a byte of a body that could never be stored.
            guard record.uploader == request.user.userID else { throw MatrixError.forbidden("This media ID was created by another user") }
            guard record.isPending else { throw MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media has already been uploaded") }
            let stored = try await receiveUpload(request, files: files)
            let outcome = try await storage.completeMedia(
                mediaID: mediaID, uploader: request.user.userID, contentType: Self.contentType(request), filename: request.query("filename"),
                sha256: stored.sha256, size: stored.size, now: nowMillis())
            switch outcome {
            case .completed: return .empty
            case .notFound, .expired: throw MatrixError.notFound("Unknown or expired media ID")
            case .notUploader: throw MatrixError.forbidden("This media ID was created by another user")
            case .alreadyUploaded: throw MatrixError(409, "M_CANNOT_OVERWRITE_MEDIA", "This media has already been uploaded")
            }
        }
        for prefix in ["/_matrix/client/v1/media", "/_matrix/media/v3"] {
            routes.add(.get, prefix + "/config") { _ in .ok(["m.upload.size": .int(Int64(config.maxUploadBytes))]) }
        }
        for (prefix, authenticated) in [("/_matrix/client/v1/media", true), ("/_matrix/media/v3", false)] {
            let auth: AuthRequirement = authenticated ? .required() : .none
            for suffix in ["", "/{fileName}"] {
                routes.add(.get, prefix + "/download/{serverName}/{mediaId}" + suffix, auth: auth) { request in
                    try Self.checkFreeze(authenticated: authenticated, serve: config.serveUnauthenticatedMedia)
                    if let origin = try Self.remoteOrigin(request, own: serverName) {
                        let record = try await remote.original(origin: origin, mediaID: request.parameter("mediaId"))
                        return Self.serve(
                            sha256: record.sha256, size: record.size, contentType: record.contentType,
                            fileName: request.optionalParameter("fileName") ?? record.filename, files: files)
                    }
                    let record = try await uploadedMedia(request)
                    return try await download(record, fileName: request.optionalParameter("fileName"), files: files)
                }
            }
            routes.add(.get, prefix + "/thumbnail/{serverName}/{mediaId}", auth: auth) { request in
                try Self.checkFreeze(authenticated: authenticated, serve: config.serveUnauthenticatedMedia)
                if let origin = try Self.remoteOrigin(request, own: serverName) {
                    let wanted = try Self.thumbnailRequest(request)
                    let size = Thumbnailer.standardSize(width: wanted.width, height: wanted.height)
                    let record = try await remote.thumbnail(
                        origin: origin, mediaID: request.parameter("mediaId"), width: size.width, height: size.height, method: wanted.method.rawValue)
                    return Self.serve(sha256: record.sha256, size: record.size, contentType: record.contentType, fileName: nil, files: files)
                }
                return try await thumbnail(request, files: files)
            }
        }
    }

    /// The spec's media freeze: new media is served only through authenticated endpoints.
    private static func checkFreeze(authenticated: Bool, serve: Bool) throws(MatrixError) {
        guard authenticated || serve else {
            throw MatrixError.notFound("Media is served through the authenticated /_matrix/client/v1/media endpoints")
        }
    }

    private func receiveUpload(_ request: MatrixRequest, files: MediaFiles) async throws -> (sha256: String, size: Int64) {
        let limit = Int64(config.maxUploadBytes)
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > limit {
            throw MatrixError.tooLarge("Uploads are limited to \(limit) bytes")
        }
        guard let body = request.bodyStream else { throw MatrixError.unknown("No request body", status: 500) }
        do {
            return try await files.store(body, maxBytes: limit)
        } catch is MediaFiles.TooLarge {
            throw MatrixError.tooLarge("Uploads are limited to \(limit) bytes")
        }
    }

    /// A usable Content-Type header value, or nil (served as application/octet-stream).
    private static func contentType(_ request: MatrixRequest) -> String? {
        guard let value = request.headers[.contentType], !value.isEmpty, value.count <= 255,
            value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F })
        else { return nil }
        return value
    }

    /// The media record once uploaded, waiting up to `timeout_ms` for a pending upload.
    func uploadedMedia(_ request: MatrixRequest) async throws -> MediaRecord {
        guard request.optionalParameter("serverName").map({ $0 == serverName.value }) ?? true else {
            throw MatrixError.notFound("Media not found")
        }
        let mediaID = request.parameter("mediaId")
        let wait = min(max(request.query("timeout_ms").flatMap { Int64($0) } ?? 20_000, 0), Self.maxDownloadWaitMs)
        let deadline = ContinuousClock.now + .milliseconds(wait)
        while true {
            guard let record = try await storage.media(mediaID: mediaID), record.expiresAt.map({ $0 > nowMillis() }) ?? true,
                record.quarantinedBy == nil
            else {
                throw MatrixError.notFound("Media not found")
            }
            if !record.isPending { return record }
            guard ContinuousClock.now < deadline else {
                throw MatrixError(504, "M_NOT_YET_UPLOADED", "The content has not been uploaded yet")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The media's server when it is another one; `allow_remote=false` (legacy endpoints)
    /// refuses those.
    private static func remoteOrigin(_ request: MatrixRequest, own: ServerName) throws -> String? {
        let origin = request.parameter("serverName")
        guard origin != own.value else { return nil }
        guard ServerName(origin) != nil else { throw MatrixError.notFound("'\(origin)' is not a server name") }
        if request.query("allow_remote") == "false" { throw MatrixError.notFound("Remote media was not asked for (allow_remote=false)") }
        return origin
    }

    private func download(_ record: MediaRecord, fileName: String?, files: MediaFiles) async throws -> MatrixResponse {
        guard let sha256 = record.sha256 else { throw MatrixError.notFound("Media not found") }
        return Self.serve(sha256: sha256, size: record.size, contentType: record.contentType, fileName: fileName ?? record.filename, files: files)
    }

    private static func serve(sha256: String, size: Int64, contentType: String?, fileName: String?, files: MediaFiles) -> MatrixResponse {
        let type = contentType ?? "application/octet-stream"
        var response = MatrixResponse(status: .ok, json: [:])
        response.body = .stream(files.stream(sha256), contentType: type, length: size)
        response.headers = mediaHeaders(contentType: type, fileName: fileName)
        return response
    }

    static func thumbnailRequest(_ request: MatrixRequest) throws -> (width: Int, height: Int, method: Thumbnailer.Method) {
        guard let width = request.query("width").flatMap({ Int($0) }), let height = request.query("height").flatMap({ Int($0) }),
            width > 0, height > 0
        else { throw MatrixError.invalidParam("'width' and 'height' must be positive integers") }
        guard let method = Thumbnailer.Method(rawValue: request.query("method") ?? "scale") else {
            throw MatrixError.invalidParam("'method' must be 'crop' or 'scale'")
        }
        return (width, height, method)
    }

    private func thumbnail(_ request: MatrixRequest, files: MediaFiles) async throws -> MatrixResponse {
        let thumbnail = try await localThumbnail(request, files: files)
        var response = MatrixResponse(status: .ok, json: [:])
        response.body = .stream(files.stream(thumbnail.sha256), contentType: thumbnail.contentType, length: thumbnail.size)
        response.headers = Self.mediaHeaders(contentType: thumbnail.contentType, fileName: nil)
        return response
    }

    /// A thumbnail of local media, made once per standard size and method.
    func localThumbnail(_ request: MatrixRequest, files: MediaFiles) async throws -> ThumbnailRecord {
        let (width, height, method) = try Self.thumbnailRequest(request)
        let record = try await uploadedMedia(request)
        guard let sha256 = record.sha256 else { throw MatrixError.notFound("Media not found") }
        let size = Thumbnailer.standardSize(width: width, height: height)
        var thumbnail = try await storage.thumbnail(mediaID: record.mediaID, width: size.width, height: size.height, method: method.rawValue)
        if thumbnail == nil {
            let source = try await files.read(sha256, upTo: Thumbnailer.maxSourceBytes)
            let made: (bytes: [UInt8], contentType: String)
            do {
                made = try await Thumbnailer.thumbnail(source, width: size.width, height: size.height, method: method)
            } catch let failure as Thumbnailer.Failure {
                throw MatrixError.unknown(failure.reason)
            }
            let stored = try await files.store(bytes: made.bytes)
            let record = ThumbnailRecord(
                mediaID: record.mediaID, width: size.width, height: size.height, method: method.rawValue, contentType: made.contentType,
                sha256: stored.sha256, size: stored.size)
            try await storage.saveThumbnail(record)
            thumbnail = record
        }
        guard let thumbnail else { throw MatrixError.notFound("Media not found") }
        return thumbnail
    }

    /// Headers that keep served media from acting as a page of this origin.
    static func mediaHeaders(contentType: String, fileName: String?) -> HTTPFields {
        let base = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        var disposition = inlineContentTypes.contains(base) ? "inline" : "attachment"
        if let fileName, !fileName.isEmpty {
            let encoded = fileName.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
            disposition += "; filename*=utf-8''\(encoded)"
        }
        return [
            .contentDisposition: disposition,
            .contentSecurityPolicy: "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("Cross-Origin-Resource-Policy")!: "cross-origin",
            .cacheControl: "private, max-age=86400, immutable",
        ]
    }
}
