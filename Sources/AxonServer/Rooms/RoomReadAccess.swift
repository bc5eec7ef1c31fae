import AxonStorage
import MatrixModel

/// How much of a room's state and history a user may read right now.
enum RoomReadAccess {
    /// Joined: the current state and everything visible.
    case current
    /// Left, kicked or banned: the room as it was when they left.
    case until(StoredEvent)
    /// Never a member (or only invited/knocking), but the room is world-readable.
    case worldReadable

    var cap: StoredEvent? {
        if case .until(let event) = self { return event }
        return nil
    }
}

extension RoomService {
    /// 403 for rooms the user may not read, including every room they have forgotten.
    func readAccess(roomID: String, userID: String) async throws -> RoomReadAccess {
        guard try await storage.room(id: roomID) != nil else {
            throw MatrixError.forbidden("You are not allowed to read room \(roomID)")
        }
        if let membership = try await storage.membership(roomID: roomID, userID: userID) {
            if membership.forgotten { throw MatrixError.forbidden("You have forgotten room \(roomID)") }
            switch membership.membership {
            case "join":
                return .current
            case "leave", "ban":
                if let event = try await storage.event(id: membership.eventID), try await wasJoined(before: event) {
                    return .until(event)
                }
            default:
                break
            }
        }
        let visibility = try await storage.currentStateEvent(roomID: roomID, key: .historyVisibility)?
            .content["history_visibility"]?.stringValue
        guard visibility == "world_readable" else {
            throw MatrixError.forbidden("You are not allowed to read room \(roomID)")
        }
        return .worldReadable
    }

    /// Whether the target of a membership event was joined to the room at some point before
    /// it. Only someone who was once joined saw the room: a rejected invite, a withdrawn knock
    /// or a ban before joining shows no more than the invite or knock did.
    func wasJoined(before membership: StoredEvent) async throws -> Bool {
        guard let userID = membership.pdu.stateKey else { return false }
        return try await storage.joinPositions(roomID: membership.roomID, userID: userID)
            .contains { $0 < membership.streamPosition }
    }

    /// Whether the user was joined to the room at stream position `position`.
    func wasJoined(roomID: String, userID: String, at position: Int64) async throws -> Bool {
        guard let event = try await storage.latestEvent(roomID: roomID, atOrBefore: position) else { return false }
        return try await storage.stateEvent(group: event.stateGroup, key: .member(userID))?.membership == "join"
    }

    /// The room state the user may see: current, or as of their leave.
    func visibleState(roomID: String, userID: String) async throws -> [StateKey: PDU] {
        switch try await readAccess(roomID: roomID, userID: userID) {
        case .current, .worldReadable:
            return try await storage.currentState(roomID: roomID)
        case .until(let leave):
            return try await storage.state(group: leave.stateGroup)
        }
    }

    /// The same state as `visibleState`, as stored events (what clients are sent).
    func visibleStateEvents(roomID: String, userID: String) async throws -> [StoredEvent] {
        switch try await readAccess(roomID: roomID, userID: userID) {
        case .current, .worldReadable:
            return try await storage.currentStateEvents(roomID: roomID)
        case .until(let leave):
            return try await storage.stateEvents(group: leave.stateGroup)
        }
    }

    /// An event the user may see, or 404 (the spec's answer for both missing and hidden events).
    func visibleEvent(roomID: String?, eventID: String, userID: String) async throws -> StoredEvent {
        guard let stored = try await storage.event(id: eventID), roomID == nil || stored.roomID == roomID,
            let event = try await visibility.filter([stored], roomID: stored.roomID, userID: userID).first
        else {
            throw MatrixError.notFound("Event not found")
        }
        return event
    }
}
