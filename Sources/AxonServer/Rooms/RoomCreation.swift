import AxonStorage
import MatrixModel
import Synchronization

/// `POST /createRoom`: every event of the new room goes through the pipeline inside one
/// transaction, in the order the spec lists, so a rejected `initial_state` leaves no room behind.
extension RoomService {
    struct CreateRoomRequest {
        var version: RoomVersion
        var preset: String
        var isPublic: Bool
        var alias: RoomAlias?
        var name: String?
        var topic: String?
        var invites: [String]
        var initialState: [(type: String, stateKey: String, content: JSON)]
        var powerLevelOverride: JSON?
        var creationContent: JSONObject
        var isDirect: Bool

        init(_ body: JSON, serverName: ServerName) throws {
            let versionName = try body.optionalString("room_version") ?? RoomVersion.default.identifier
            guard let version = RoomVersion(versionName) else {
                throw MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", "Room version \(versionName) is not supported")
            }
            self.version = version
            let visibility = try body.optionalString("visibility") ?? "private"
            guard ["public", "private"].contains(visibility) else { throw MatrixError.invalidParam("Unknown visibility") }
            isPublic = visibility == "public"
            preset = try body.optionalString("preset") ?? (isPublic ? "public_chat" : "private_chat")
            guard ["private_chat", "public_chat", "trusted_private_chat"].contains(preset) else {
                throw MatrixError.invalidParam("Unknown preset \(preset)")
            }
            if let aliasName = try body.optionalString("room_alias_name") {
                guard let alias = RoomAlias("#\(aliasName):\(serverName)"), !aliasName.contains(":") else {
                    throw MatrixError(400, "M_INVALID_PARAM", "Invalid room_alias_name")
                }
                self.alias = alias
            }
            name = try body.optionalString("name")
            topic = try body.optionalString("topic")
            invites = try body.optionalStringArray("invite") ?? []
            for invite in invites where UserID(invite) == nil {
                throw MatrixError.invalidParam("'\(invite)' is not a user ID")
            }
            initialState = []
            for entry in body.optional("initial_state")?.arrayValue ?? [] {
                guard let type = entry["type"]?.stringValue, let content = entry["content"], content.objectValue != nil else {
                    throw MatrixError(400, "M_INVALID_ROOM_STATE", "initial_state entries need a type and an object content")
                }
                initialState.append((type, entry["state_key"]?.stringValue ?? "", content))
            }
            powerLevelOverride = try body.optionalObject("power_level_content_override")
            creationContent = try body.optionalObject("creation_content")?.objectValue ?? [:]
            isDirect = try body.optionalBool("is_direct") ?? false
        }
    }

    func createRoom(_ body: JSON, creator: TokenOwner) async throws -> String {
        let request = try CreateRoomRequest(body, serverName: serverName)
        if let alias = request.alias, try await storage.aliasTarget(alias.description) != nil {
            throw MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")
        }
        let version = request.version
        var createContent = request.creationContent
        createContent["room_version"] = .string(version.identifier)
        if version.createEventHasCreator { createContent["creator"] = .string(creator.userID) }
        if version.creatorsHaveInfinitePower, request.preset == "trusted_private_chat" {
            var creators = createContent["additional_creators"]?.arrayValue?.compactMap(\.stringValue) ?? []
            for invite in request.invites where !creators.contains(invite) { creators.append(invite) }
            createContent["additional_creators"] = .array(creators.map(JSON.string))
        }
        let profile = try await storage.account(userID: creator.userID)?.profile ?? [:]
        let events = try initialEvents(request, creator: creator.userID, profile: profile)
        // A concurrent identical request may take the same v12 room ID between the check and
        // the write; then the creation is retried with the next identity.
        for _ in 0..<5 {
            let (roomID, create) = try await newRoomIdentity(creator: creator.userID, version: version, content: .object(createContent))
            guard let stored = try await persistNewRoom(roomID: roomID, create: create, events: events, request: request, creator: creator.userID)
            else { continue }
            stored.forEach(notify)
            try await inviteRemoteUsers(request, roomID: roomID, inviter: creator.userID)
            return roomID
        }
        throw MatrixError.unknown("Could not allocate a room ID", status: 500)
    }

    /// Writes every event of the new room in one transaction; nil when the room ID is taken.
    private func persistNewRoom(
        roomID: String, create: PDU, events: [EventTemplate], request: CreateRoomRequest, creator: String
    ) async throws -> [StoredEvent]? {
        let writer = self.writer
        do {
            return try await storage.writeRoom(roomID: roomID) { tx in
                guard tx.room == nil else { throw RoomIDTaken() }
                try await tx.createRoom(RoomRecord(roomID: roomID, version: request.version, creator: creator, isPublic: request.isPublic))
                var stored = [try await tx.append(create, transaction: nil)]
                for template in events {
                    do {
                        stored.append(try await writer.append(template, in: tx))
                    } catch let error as MatrixError where error.errcode == "M_FORBIDDEN" {
                        throw MatrixError(400, "M_INVALID_ROOM_STATE", "\(template.type) is not allowed: \(error.message)")
                    }
                }
                if let alias = request.alias {
                    do {
                        try await tx.addAlias(alias.description, creator: creator)
                    } catch StorageError.conflict {
                        throw MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken")
                    }
                }
                return stored
            }
        } catch is RoomIDTaken {
            return nil
        }
    }

    struct RoomIDTaken: Error {}

    private func inviteRemoteUsers(_ request: CreateRoomRequest, roomID: String, inviter: String) async throws {
        for invite in request.invites where UserID(invite).map({ $0.server != serverName }) ?? false {
            try await setMembership(
                roomID: roomID, sender: inviter, target: invite, membership: "invite", reason: nil,
                extra: request.isDirect ? ["is_direct": true] : [:])
        }
    }

    /// The create event and room ID of a new room. In v12 the room ID is the create event's
    /// hash, so two identical requests in the same millisecond would collide: a later
    /// timestamp gives the second one its own room.
    ///
    /// The timestamps come from `CreateTimestamps`, distinct within this process: concurrent
    /// identical requests would otherwise all pick the same next candidate, and only one
    /// would win each retry. The lookup still guards against another node's rooms.
    func newRoomIdentity(creator: String, version: RoomVersion, content: JSON) async throws -> (String, PDU) {
        let now = nowMillis()
        for _ in 0..<100 {
            if version.roomIDIsCreateEventHash {
                let create = try writer.createEvent(creator: creator, version: version, roomID: nil, content: content, now: CreateTimestamps.next(atLeast: now))
                let roomID = "!" + create.eventID.dropFirst()
                if try await storage.room(id: roomID) == nil { return (roomID, create) }
            } else {
                let roomID = "!\(RandomString.alphanumeric(18)):\(serverName)"
                return (roomID, try writer.createEvent(creator: creator, version: version, roomID: roomID, content: content, now: now))
            }
        }
        throw MatrixError.unknown("Could not allocate a room ID", status: 500)
    }

    private func initialEvents(_ request: CreateRoomRequest, creator: String, profile: JSONObject) throws -> [EventTemplate] {
        let version = request.version
        var templates: [EventTemplate] = []
        func state(_ type: String, key stateKey: String = "", _ content: JSON) {
            templates.append(EventTemplate(type: type, stateKey: stateKey, sender: creator, content: content))
        }
        var join: JSONObject = ["membership": "join"]
        if let name = profile["displayname"] { join["displayname"] = name }
        if let avatar = profile["avatar_url"] { join["avatar_url"] = avatar }
        state("m.room.member", key: creator, .object(join))

        var users: JSONObject = [:]
        if !version.creatorsHaveInfinitePower {
            users[creator] = 100
            if request.preset == "trusted_private_chat" {
                for invite in request.invites { users[invite] = 100 }
            }
        }
        var powerLevels: JSONObject = [
            "users": .object(users), "users_default": 0, "events_default": 0, "state_default": 50, "ban": 50, "kick": 50,
            "redact": 50, "invite": request.preset == "public_chat" ? 50 : 0,
            "events": [
                "m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
                "m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.server_acl": 100, "m.room.encryption": 100,
                "m.room.tombstone": .int(version.creatorsHaveInfinitePower ? 150 : 100),
            ],
            "notifications": ["room": 50],
        ]
        for (key, value) in request.powerLevelOverride?.objectValue ?? [:] { powerLevels[key] = value }
        state("m.room.power_levels", .object(powerLevels))

        if let alias = request.alias { state("m.room.canonical_alias", ["alias": .string(alias.description)]) }
        let isPublicPreset = request.preset == "public_chat"
        state("m.room.join_rules", ["join_rule": isPublicPreset ? "public" : "invite"])
        state("m.room.history_visibility", ["history_visibility": "shared"])
        state("m.room.guest_access", ["guest_access": isPublicPreset ? "forbidden" : "can_join"])
        for entry in request.initialState {
            if entry.type == "m.room.create" || entry.type == "m.room.member" {
                throw MatrixError(400, "M_INVALID_ROOM_STATE", "\(entry.type) cannot be set in initial_state")
            }
            templates.removeAll { $0.type == entry.type && $0.stateKey == entry.stateKey && $0.type != "m.room.member" && $0.type != "m.room.power_levels" }
            state(entry.type, key: entry.stateKey, entry.content)
        }
        if let name = request.name { state("m.room.name", ["name": .string(name)]) }
        if let topic = request.topic {
            state("m.room.topic", ["topic": .string(topic), "m.topic": [["mimetype": "text/plain", "body": .string(topic)]]])
        }
        // Users of other servers are invited once the room exists (`inviteRemoteUsers`), so
        // their servers are not asked while the new room's writer is held.
        for invite in request.invites where invite != creator && UserID(invite)?.server == serverName {
            var content: JSONObject = ["membership": "invite"]
            if request.isDirect { content["is_direct"] = true }
            state("m.room.member", key: invite, .object(content))
        }
        return templates
    }
}

/// Create-event timestamps handed out by this process, each later than the one before.
enum CreateTimestamps {
    private static let last = Mutex<Int64>(0)

    static func next(atLeast now: Int64) -> Int64 {
        last.withLock { last in
            last = max(last + 1, now)
            return last
        }
    }
}
