import AxonStorage
import MatrixModel

/// Server-side key backups (spec key_backup.yaml): versions, and session keys stored under
/// the current version, where a better copy of a key replaces a worse one.
extension ServerContext {
    func registerKeyBackupRoutes(on routes: RouteTable) {
        routes.client(.post, "/room_keys/version") { request in
            let body = try request.jsonObject()
            let algorithm = try body.requiredString("algorithm")
            guard let authData = body["auth_data"], case .object = authData else { throw MatrixError.badJSON("'auth_data' must be an object") }
            let version = try await storage.createBackupVersion(userID: request.user.userID, algorithm: algorithm, authData: authData)
            return .ok(["version": .string(version)])
        }
        routes.client(.get, "/room_keys/version") { request in
            guard let version = try await storage.backupVersion(userID: request.user.userID, version: nil) else {
                throw MatrixError.notFound("No current backup version")
            }
            return .ok(Self.versionJSON(version))
        }
        routes.client(.get, "/room_keys/version/{version}") { request in
            .ok(Self.versionJSON(try await existingBackup(request, request.parameter("version"))))
        }
        routes.client(.put, "/room_keys/version/{version}") { request in
            let body = try request.jsonObject()
            let current = try await existingBackup(request, request.parameter("version"))
            guard try body.requiredString("algorithm") == current.algorithm else { throw MatrixError.invalidParam("Algorithm does not match") }
            if let version = try body.optionalString("version"), version != current.version {
                throw MatrixError.invalidParam("The version in the body does not match the path")
            }
            guard let authData = body["auth_data"], case .object = authData else { throw MatrixError.badJSON("'auth_data' must be an object") }
            guard try await storage.updateBackupVersion(userID: request.user.userID, version: current.version, authData: authData) else {
                throw MatrixError.notFound("Unknown backup version")
            }
            return .empty
        }
        routes.client(.delete, "/room_keys/version/{version}") { request in
            guard try await storage.deleteBackupVersion(userID: request.user.userID, version: request.parameter("version")) else {
                throw MatrixError.notFound("Unknown backup version")
            }
            return .empty
        }
        for path in ["/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"] {
            routes.client(.put, path) { request in
                let keys = try Self.backedUpKeys(try request.jsonObject(), request: request)
                let version = try requiredVersion(request)
                do {
                    let updated = try await storage.putBackupKeys(
                        userID: request.user.userID, version: version, keys: keys, keepExisting: KeyBackupRule.keepExisting)
                    return .ok(["etag": .string(updated.etag), "count": .int(Int64(updated.count))])
                } catch KeyStoreError.wrongBackupVersion(let current) {
                    throw MatrixError(
                        403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.", extra: current.map { ["current_version": .string($0)] } ?? [:])
                } catch StorageError.notFound {
                    throw MatrixError.notFound("Unknown backup version")
                }
            }
            routes.client(.get, path) { request in
                let backup = try await existingBackup(request, try requiredVersion(request))
                let roomID = request.optionalParameter("roomId")
                let sessionID = request.optionalParameter("sessionId")
                let keys = try await storage.backupKeys(userID: request.user.userID, version: backup.version, roomID: roomID, sessionID: sessionID)
                if sessionID != nil {
                    guard let key = keys.first else { throw MatrixError.notFound("No key found for this session") }
                    return .ok(key.data)
                }
                let rooms = Self.roomsJSON(keys)
                if let roomID { return .ok(rooms[roomID] ?? ["sessions": [:]]) }
                return .ok(["rooms": .object(rooms)])
            }
            routes.client(.delete, path) { request in
                do {
                    let updated = try await storage.deleteBackupKeys(
                        userID: request.user.userID, version: try requiredVersion(request), roomID: request.optionalParameter("roomId"),
                        sessionID: request.optionalParameter("sessionId"))
                    return .ok(["etag": .string(updated.etag), "count": .int(Int64(updated.count))])
                } catch StorageError.notFound {
                    throw MatrixError.notFound("Unknown backup version")
                }
            }
        }
    }

    private func requiredVersion(_ request: MatrixRequest) throws(MatrixError) -> String {
        guard let version = request.query("version") else { throw MatrixError.missingParam("The 'version' query parameter is required") }
        return version
    }

    private func existingBackup(_ request: MatrixRequest, _ version: String) async throws -> BackupVersion {
        guard let backup = try await storage.backupVersion(userID: request.user.userID, version: version) else {
            throw MatrixError.notFound("Unknown backup version")
        }
        return backup
    }

    private static func versionJSON(_ version: BackupVersion) -> JSON {
        [
            "version": .string(version.version), "algorithm": .string(version.algorithm), "auth_data": version.authData,
            "etag": .string(version.etag), "count": .int(Int64(version.count)),
        ]
    }

    private static func roomsJSON(_ keys: [BackedUpKey]) -> JSONObject {
        var rooms = JSONObject()
        for key in keys {
            var sessions = rooms[key.roomID]?["sessions"]?.objectValue ?? [:]
            sessions[key.sessionID] = key.data
            rooms[key.roomID] = ["sessions": .object(sessions)]
        }
        return rooms
    }

    /// The request body at the path's level: all rooms, one room's sessions, or one session.
    private static func backedUpKeys(_ body: JSON, request: MatrixRequest) throws(MatrixError) -> [BackedUpKey] {
        func session(_ data: JSON, _ roomID: String, _ sessionID: String) throws(MatrixError) -> BackedUpKey {
            guard case .object(let object) = data, object["first_message_index"]?.intValue != nil,
                object["forwarded_count"]?.intValue != nil, object["is_verified"]?.boolValue != nil, object["session_data"]?.objectValue != nil
            else {
                throw MatrixError.badJSON("Key data needs first_message_index, forwarded_count, is_verified and session_data")
            }
            return BackedUpKey(roomID: roomID, sessionID: sessionID, data: data)
        }
        func sessions(_ room: JSON, _ roomID: String) throws(MatrixError) -> [BackedUpKey] {
            guard let sessions = room["sessions"]?.objectValue else { throw MatrixError.badJSON("Expected 'sessions'") }
            var keys: [BackedUpKey] = []
            for (sessionID, data) in sessions { keys.append(try session(data, roomID, sessionID)) }
            return keys
        }
        if let roomID = request.optionalParameter("roomId") {
            if let sessionID = request.optionalParameter("sessionId") { return [try session(body, roomID, sessionID)] }
            return try sessions(body, roomID)
        }
        guard let rooms = body["rooms"]?.objectValue else { throw MatrixError.badJSON("Expected 'rooms'") }
        var keys: [BackedUpKey] = []
        for (roomID, room) in rooms { keys += try sessions(room, roomID) }
        return keys
    }
}
