import AxonStorage
import MatrixModel

/// Local media for other servers (spec server-server "Content Repository"):
/// `/_matrix/federation/v1/media/download` and `thumbnail`, answered as `multipart/mixed`
/// (metadata, then the bytes). Only this server's own uploads are served; another server's
/// media cached here is not relayed.
extension ServerContext {
    func registerFederationMediaRoutes(on routes: RouteTable, files: MediaFiles) {
        routes.add(.get, "/_matrix/federation/v1/media/download/{mediaId}", auth: .server) { request in
            let record = try await uploadedMedia(request)
            guard let sha256 = record.sha256 else { throw MatrixError.notFound("Media not found") }
            let type = record.contentType ?? "application/octet-stream"
            let disposition = Self.mediaHeaders(contentType: type, fileName: record.filename)[.contentDisposition]
            return Self.multipart(contentType: type, disposition: disposition, sha256: sha256, files: files)
        }
        routes.add(.get, "/_matrix/federation/v1/media/thumbnail/{mediaId}", auth: .server) { request in
            let thumbnail = try await localThumbnail(request, files: files)
            return Self.multipart(contentType: thumbnail.contentType, disposition: nil, sha256: thumbnail.sha256, files: files)
        }
    }

    private static func multipart(contentType: String, disposition: String?, sha256: String, files: MediaFiles) -> MatrixResponse {
        let boundary = RandomString.alphanumeric(32)
        var response = MatrixResponse(status: .ok, json: [:])
        response.body = .stream(
            MultipartMedia.body(contentType: contentType, disposition: disposition, files: files, sha256: sha256, boundary: boundary),
            contentType: "multipart/mixed; boundary=\(boundary)", length: nil)
        return response
    }
}
