import AxonStorage
import MatrixModel

/// `POST /rooms/{roomId}/upgrade` (room_upgrades.yaml and the "Room upgrades" module): a new
/// room of the requested version that carries the old room's essential state, a tombstone
/// in the old room, local aliases moved over, and the old room muted.
extension RoomService {
    static let carriedStateTypes = [
        "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.name", "m.room.topic",
        "m.room.avatar", "m.room.encryption", "m.room.server_acl", "m.room.related_groups",
    ]

    func upgrade(roomID: String, to version: RoomVersion, additionalCreators: [String], user: TokenOwner) async throws -> String {
        guard let old = try await storage.room(id: roomID) else { throw MatrixError.notFound("Unknown room") }
        let state = try await storage.currentState(roomID: roomID)
        guard state[.member(user.userID)]?.membership == "join" else { throw MatrixError.forbidden("You are not in this room") }
        let oldLevels = PowerLevels(content: state[.powerLevels]?.content, create: state[.create], version: old.version)
        guard oldLevels.userLevel(user.userID) >= oldLevels.requiredLevel(eventType: "m.room.tombstone", isState: true) else {
            throw MatrixError.forbidden("You do not have permission to upgrade this room")
        }
        var createContent: JSONObject = ["room_version": .string(version.identifier), "predecessor": ["room_id": .string(roomID)]]
        if let type = state[.create]?.content["type"] { createContent["type"] = type }
        if let federate = state[.create]?.content["m.federate"] { createContent["m.federate"] = federate }
        if version.createEventHasCreator { createContent["creator"] = .string(user.userID) }
        if version.creatorsHaveInfinitePower, !additionalCreators.isEmpty {
            createContent["additional_creators"] = .array(additionalCreators.map(JSON.string))
        }
        let (newRoomID, create) = try await newRoomIdentity(creator: user.userID, version: version, content: .object(createContent))
        var templates: [EventTemplate] = []
        var join: JSONObject = ["membership": "join"]
        if let member = state[.member(user.userID)]?.content {
            if let name = member["displayname"] { join["displayname"] = name }
            if let avatar = member["avatar_url"] { join["avatar_url"] = avatar }
        }
        templates.append(EventTemplate(type: "m.room.member", stateKey: user.userID, sender: user.userID, content: .object(join)))
        var levels = state[.powerLevels]?.content.objectValue ?? [:]
        var users = levels["users"]?.objectValue ?? [:]
        if version.creatorsHaveInfinitePower {
            for creator in [user.userID] + additionalCreators { users[creator] = nil }
        } else {
            users[user.userID] = .int(max(users[user.userID]?.intValue ?? 0, 100))
        }
        levels["users"] = .object(users)
        templates.append(EventTemplate(type: "m.room.power_levels", stateKey: "", sender: user.userID, content: .object(levels)))
        for type in Self.carriedStateTypes {
            if let event = state[StateKey(type, "")] {
                templates.append(EventTemplate(type: type, stateKey: "", sender: user.userID, content: event.content))
            }
        }
        let aliases = try await storage.aliases(roomID: roomID)
        if let canonical = state[StateKey("m.room.canonical_alias", "")] {
            templates.append(EventTemplate(type: "m.room.canonical_alias", stateKey: "", sender: user.userID, content: canonical.content))
        }
        let writer = self.writer
        let creator = user.userID
        let initialEvents = templates
        let created = try await storage.writeRoom(roomID: newRoomID) { tx in
            guard tx.room == nil else { throw StorageError.conflict("room \(newRoomID) exists") }
            try await tx.createRoom(RoomRecord(roomID: newRoomID, version: version, creator: creator, isPublic: old.isPublic))
            var stored = [try await tx.append(create, transaction: nil)]
            for template in initialEvents { stored.append(try await writer.append(template, in: tx)) }
            return stored
        }
        created.forEach(notify)
        try await send(
            roomID: roomID,
            EventTemplate(
                type: "m.room.tombstone", stateKey: "", sender: user.userID,
                content: ["body": "This room has been replaced", "replacement_room": .string(newRoomID)]))
        for alias in aliases {
            try await storage.deleteAlias(alias)
            try await storage.setAlias(alias, roomID: newRoomID, creator: user.userID)
        }
        if old.isPublic {
            try await storage.setPublic(roomID: roomID, isPublic: false)
        }
        // Mute the old room: only moderators may speak or invite there from now on.
        var muted = state[.powerLevels]?.content.objectValue ?? [:]
        let restricted = JSON.int(max(50, (muted["users_default"]?.intValue ?? 0) + 1))
        muted["events_default"] = restricted
        muted["invite"] = restricted
        _ = try? await send(roomID: roomID, EventTemplate(type: "m.room.power_levels", stateKey: "", sender: user.userID, content: .object(muted)))
        return newRoomID
    }
}
