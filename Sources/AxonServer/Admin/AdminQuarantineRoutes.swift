import AxonStorage
import MatrixModel

/// Quarantine and protection (Synapse's media admin API). Quarantined media answers 404 to
/// everyone, here and over federation, and a quarantined remote item is not fetched again.
extension ServerContext {
    func registerAdminQuarantineRoutes(on routes: RouteTable) {
        for (path, quarantine) in [("quarantine", true), ("unquarantine", false)] {
            routes.add(.post, "/_synapse/admin/v1/media/\(path)/{serverName}/{mediaId}") { request in
                try requireAdmin(request)
                let origin = request.parameter("serverName")
                guard ServerName(origin) != nil else { throw MatrixError.invalidParam("'\(origin)' is not a server name") }
                try await storage.setMediaQuarantine(
                    origin: origin == serverName.value ? nil : origin, mediaIDs: [request.parameter("mediaId")],
                    by: quarantine ? request.user.userID : nil)
                return .ok([:])
            }
        }
        for (path, protect) in [("protect", true), ("unprotect", false)] {
            routes.add(.post, "/_synapse/admin/v1/media/\(path)/{mediaId}") { request in
                try requireAdmin(request)
                let mediaID = request.parameter("mediaId")
                guard try await storage.localMediaEntry(mediaID: mediaID) != nil else { throw MatrixError.notFound("Unknown media") }
                try await storage.setMediaProtected(mediaID: mediaID, protected: protect)
                return .ok([:])
            }
        }
        for path in ["/_synapse/admin/v1/room/{roomId}/media/quarantine", "/_synapse/admin/v1/quarantine_media/{roomId}"] {
            routes.add(.post, path) { request in
                try requireAdmin(request)
                let (local, remote) = try await roomMedia(try adminRoomID(request))
                var count = 0
                var byOrigin: [String?: [String]] = [:]
                for uri in local + remote {
                    guard let (origin, mediaID) = Self.mxcParts(uri) else { continue }
                    byOrigin[origin == serverName.value ? nil : origin, default: []].append(mediaID)
                }
                for (origin, mediaIDs) in byOrigin {
                    count += try await storage.setMediaQuarantine(origin: origin, mediaIDs: mediaIDs, by: request.user.userID)
                }
                return .ok(["num_quarantined": .int(Int64(count))])
            }
        }
        routes.add(.post, "/_synapse/admin/v1/user/{userId}/media/quarantine") { request in
            try requireAdmin(request)
            var query = LocalMediaQuery()
            query.uploader = try localUser(request).description
            let mediaIDs = try await storage.localMedia(query).media.map(\.record.mediaID)
            let count = try await storage.setMediaQuarantine(origin: nil, mediaIDs: mediaIDs, by: request.user.userID)
            return .ok(["num_quarantined": .int(Int64(count))])
        }
    }

    /// The `mxc://` URIs a room's events name (`url`, `info.thumbnail_url`), split into this
    /// server's and others'. Encrypted rooms' media is inside ciphertext and not found.
    func roomMedia(_ roomID: String) async throws -> (local: [String], remote: [String]) {
        guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room") }
        var local: [String] = []
        var remote: [String] = []
        var seen = Set<String>()
        var position: TopologicalPosition?
        while true {
            let page = try await storage.roomEvents(roomID: roomID, from: position, direction: .forward, limit: 500)
            for event in page {
                for uri in [event.pdu.content["url"], event.pdu.content["info"]?["thumbnail_url"]].compactMap({ $0?.stringValue })
                where seen.insert(uri).inserted {
                    guard let (origin, _) = Self.mxcParts(uri) else { continue }
                    if origin == serverName.value { local.append(uri) } else { remote.append(uri) }
                }
            }
            guard page.count == 500, let last = page.last else { break }
            position = TopologicalPosition(depth: last.pdu.depth, stream: last.streamPosition)
        }
        return (local, remote)
    }

    static func mxcParts(_ uri: String) -> (origin: String, mediaID: String)? {
        guard uri.hasPrefix("mxc://") else { return nil }
        let parts = uri.dropFirst(6).split(separator: "/", maxSplits: 1)
        guard parts.count == 2, ServerName(String(parts[0])) != nil, !parts[1].isEmpty, !parts[1].contains("/") else { return nil }
        return (String(parts[0]), String(parts[1]))
    }
}
