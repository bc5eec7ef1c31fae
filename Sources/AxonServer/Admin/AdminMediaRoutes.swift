import AxonStorage
import MatrixModel

/// Synapse's media admin API: what a user uploaded, a room's media, quarantine (served to
/// no one, here or over federation), protection from it, deletion and the remote cache.
extension ServerContext {
    func registerAdminMediaRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/users/{userId}/media") { request in
            try requireAdmin(request)
            let query = try userMediaQuery(request)
            let (media, total) = try await storage.localMedia(query)
            var response: JSONObject = ["media": .array(media.map { .object(mediaInfo($0)) }), "total": .int(Int64(total))]
            if query.from + media.count < total { response["next_token"] = .int(Int64(query.from + media.count)) }
            return .ok(.object(response))
        }
        routes.add(.delete, "/_synapse/admin/v1/users/{userId}/media") { request in
            try requireAdmin(request)
            let media = try await storage.localMedia(try userMediaQuery(request)).media
            return .ok(try await deleteMedia(media.map(\.record.mediaID)))
        }
        routes.add(.get, "/_synapse/admin/v1/media/{serverName}/{mediaId}") { request in
            try requireAdmin(request)
            guard request.parameter("serverName") == serverName.value,
                let entry = try await storage.localMediaEntry(mediaID: request.parameter("mediaId"))
            else { throw MatrixError.notFound("Unknown media") }
            var info = mediaInfo(entry)
            info["media_origin"] = .string(serverName.value)
            info["user_id"] = .string(entry.record.uploader)
            return .ok(["media_info": .object(info)])
        }
        routes.add(.delete, "/_synapse/admin/v1/media/{serverName}/{mediaId}") { request in
            try requireAdmin(request)
            guard request.parameter("serverName") == serverName.value else { throw MatrixError.invalidParam("Only local media can be deleted") }
            let mediaID = request.parameter("mediaId")
            guard try await storage.localMediaEntry(mediaID: mediaID) != nil else { throw MatrixError.notFound("Unknown media") }
            return .ok(try await deleteMedia([mediaID]))
        }
        for path in ["/_synapse/admin/v1/media/delete", "/_synapse/admin/v1/media/{serverName}/delete"] {
            routes.add(.post, path) { request in
                try requireAdmin(request)
                let origin = request.optionalParameter("serverName") ?? request.query("server_name") ?? serverName.value
                guard origin == serverName.value else { throw MatrixError.invalidParam("Only local media can be deleted") }
                var query = LocalMediaQuery()
                guard let before = request.query("before_ts").flatMap({ Int64($0) }), before >= 0 else {
                    throw MatrixError.missingParam("'before_ts' must be a timestamp in milliseconds")
                }
                query.createdBefore = before
                query.sizeGreaterThan = Int64(try request.integerQuery("size_gt", default: 0, maximum: Int.max))
                var candidates = try await storage.localMedia(query).media.map(\.record.mediaID)
                if try request.booleanQuery("keep_profiles") ?? true {
                    let avatars = try await storage.avatarURIs()
                    candidates.removeAll { avatars.contains("mxc://\(serverName.value)/\($0)") }
                }
                return .ok(try await deleteMedia(candidates))
            }
        }
        routes.add(.post, "/_synapse/admin/v1/purge_media_cache") { request in
            try requireAdmin(request)
            guard let before = request.query("before_ts").flatMap({ Int64($0) }), before >= 0 else {
                throw MatrixError.missingParam("'before_ts' must be a timestamp in milliseconds")
            }
            let (deleted, unreferenced) = try await storage.purgeRemoteMedia(fetchedBefore: before)
            await removeFiles(unreferenced)
            return .ok(["deleted": .int(Int64(deleted))])
        }
        registerAdminQuarantineRoutes(on: routes)
        routes.add(.get, "/_synapse/admin/v1/room/{roomId}/media") { request in
            try requireAdmin(request)
            let (local, remote) = try await roomMedia(try adminRoomID(request))
            return .ok(["local": .array(local.map(JSON.string)), "remote": .array(remote.map(JSON.string))])
        }
        routes.add(.get, "/_synapse/admin/v1/statistics/users/media") { request in
            try requireAdmin(request)
            var query = MediaUsageQuery()
            (query.from, query.limit) = try request.adminPage()
            query.order = try request.orderQuery { MediaUsageQuery.Order(rawValue: $0) } ?? query.order
            query.descending = try request.backwardsQuery()
            if request.query("from_ts") != nil { query.createdFrom = Int64(try request.integerQuery("from_ts", default: 0, maximum: Int.max)) }
            if request.query("until_ts") != nil { query.createdUntil = Int64(try request.integerQuery("until_ts", default: 0, maximum: Int.max)) }
            query.searchTerm = request.query("search_term")
            let (users, total) = try await storage.mediaUsage(query)
            var response: JSONObject = [
                "users": .array(users.map { usage in
                    [
                        "user_id": .string(usage.userID), "displayname": usage.displayName.map(JSON.string) ?? .null,
                        "media_count": .int(Int64(usage.mediaCount)), "media_length": .int(usage.mediaLength),
                    ]
                }),
                "total": .int(Int64(total)),
            ]
            if query.from + users.count < total { response["next_token"] = .int(Int64(query.from + users.count)) }
            return .ok(.object(response))
        }
    }

    private func userMediaQuery(_ request: MatrixRequest) throws -> LocalMediaQuery {
        var query = LocalMediaQuery()
        query.uploader = try localUser(request).description
        (query.from, query.limit) = try request.adminPage()
        query.order = try request.orderQuery { LocalMediaQuery.Order(rawValue: $0) } ?? query.order
        query.descending = try request.backwardsQuery()
        return query
    }

    private func mediaInfo(_ entry: AdminMediaEntry) -> JSONObject {
        let record = entry.record
        return [
            "media_id": .string(record.mediaID), "media_type": record.contentType.map(JSON.string) ?? .null,
            "media_length": .int(record.size), "upload_name": record.filename.map(JSON.string) ?? .null,
            "created_ts": .int(record.createdAt), "last_access_ts": .null,
            "quarantined_by": record.quarantinedBy.map(JSON.string) ?? .null, "safe_from_quarantine": .bool(entry.safeFromQuarantine),
        ]
    }

    private func deleteMedia(_ mediaIDs: [String]) async throws -> JSON {
        let (deleted, unreferenced) = try await storage.deleteLocalMedia(mediaIDs: mediaIDs)
        await removeFiles(unreferenced)
        return ["deleted_media": .array(deleted.map(JSON.string)), "total": .int(Int64(deleted.count))]
    }

    /// Files whose last reference went. A file left behind by a failure is only disk space.
    private func removeFiles(_ hashes: [String]) async {
        for sha256 in hashes {
            do { try await mediaFiles.remove(sha256) } catch {
                logger.warning("could not remove a media file", metadata: ["sha256": "\(sha256)", "error": "\(error)"])
            }
        }
    }
}
