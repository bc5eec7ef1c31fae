import AxonStorage
import Synchronization
import MatrixModel

/// Presence (spec "Presence"): stored on the stream, delivered to the user and to everyone
/// sharing a joined room with them; a change wakes exactly those users. "online" with no
/// activity for 5 minutes reads as "unavailable", and for 30 minutes as "offline".
struct PresenceService: Sendable {
    let storage: any Storage
    let notifier: Notifier
    let enabled: Bool
    let serverName: ServerName
    /// Other servers hear of a local user's presence (an `m.presence` EDU) when its state or
    /// status message changes, and only the servers of users sharing a joined room with
    /// them; a client's once-a-minute activity refresh is not sent.
    var federationSender: FederationSender?
    static let idleAfterMs: Int64 = 5 * 60 * 1000
    static let offlineAfterMs: Int64 = 30 * 60 * 1000
    /// A syncing client refreshes its last-active time at most this often.
    static let refreshMs: Int64 = 60 * 1000
    static let states: Set<String> = ["online", "offline", "unavailable"]
    /// What this node last wrote per user, so a syncing client's once-a-minute refresh is
    /// decided without reading the database on every `/sync`.
    let recentlyWritten = RecentPresence()

    func set(userID: String, state: String, statusMessage: String?) async throws {
        guard enabled else { return }
        let previous = try await storage.presence(userID: userID)
        let peers = Set(try await storage.roomPeers(userID: userID) + [userID])
        let now = nowMillis()
        let position = try await storage.setPresence(
            userID: userID, state: state, statusMessage: statusMessage, lastActive: now, notify: Array(peers))
        recentlyWritten.record(userID, state: state, at: now, position: position)
        for peer in peers { notifier.userChanged(peer, position: position) }
        guard let federationSender, UserID(userID)?.server == serverName,
            previous?.state != state || previous?.statusMessage != statusMessage
        else { return }
        let servers = Set(peers.compactMap { UserID($0)?.server }).subtracting([serverName]).map(\.value).sorted()
        guard !servers.isEmpty else { return }
        var update: JSONObject = [
            "user_id": .string(userID), "presence": .string(state), "last_active_ago": 0, "currently_active": .bool(state == "online"),
        ]
        if let statusMessage { update["status_msg"] = .string(statusMessage) }
        try await storage.enqueueOutbound(
            destinations: servers, eventID: nil, edu: ["edu_type": "m.presence", "content": ["push": [.object(update)]]], now: now)
        federationSender.wake()
    }

    /// A remote user's presence is kept only while they share a joined room with a local
    /// user: another server cannot fill the table with users nobody here can see.
    func setRemote(userID: String, state: String, statusMessage: String?) async throws {
        guard enabled else { return }
        let peers = try await storage.roomPeers(userID: userID)
        guard peers.contains(where: { UserID($0)?.server == serverName }) else { return }
        try await set(userID: userID, state: state, statusMessage: statusMessage)
    }

    /// `set_presence` on /sync: records the state, and activity once a minute at most.
    func syncing(userID: String, state: String) async throws {
        // "offline" on /sync means: do not mark me online.
        guard enabled, state != "offline" else { return }
        // Written here less than a minute ago with this state, and nothing about the user
        // changed since on any node (`RecentPresence.userChanged`): nothing to refresh.
        if recentlyWritten.isFresh(userID, state: state, now: nowMillis(), within: Self.refreshMs) { return }
        let current = try await storage.presence(userID: userID)
        if let current, current.state == state, nowMillis() - current.lastActive < Self.refreshMs { return }
        try await set(userID: userID, state: state, statusMessage: current?.statusMessage)
    }

    func content(_ record: PresenceRecord?, now: Int64 = nowMillis()) -> JSON {
        guard let record else { return ["presence": "offline"] }
        let idle = now - record.lastActive
        var state = record.state
        if state == "online", idle >= Self.offlineAfterMs {
            state = "offline"
        } else if state == "online", idle >= Self.idleAfterMs {
            state = "unavailable"
        }
        var content: JSONObject = [
            "presence": .string(state), "last_active_ago": .int(max(0, idle)),
            "currently_active": .bool(state == "online" && idle < Self.idleAfterMs),
        ]
        if let message = record.statusMessage { content["status_msg"] = .string(message) }
        return .object(content)
    }

    func event(_ record: PresenceRecord) -> JSON {
        ["type": "m.presence", "sender": .string(record.userID), "content": content(record)]
    }
}

extension PresenceService {
    static let maxStatusMessageBytes = 1024
}

extension ServerContext {
    func registerPresenceRoutes(on routes: RouteTable) {
        routes.client(.put, "/presence/{userId}/status", auth: .required(allowGuests: true)) { request in
            try requireSelf(request, userID: request.parameter("userId"))
            let body = try request.jsonObject()
            let state = try body.requiredString("presence")
            guard PresenceService.states.contains(state) else {
                throw MatrixError.badJSON("presence must be online, offline or unavailable")
            }
            let message = try body.optionalString("status_msg")
            // It is copied into every room peer's /sync.
            if let message, message.utf8.count > PresenceService.maxStatusMessageBytes {
                throw MatrixError(400, "M_TOO_LARGE", "status_msg may be at most \(PresenceService.maxStatusMessageBytes) bytes")
            }
            try await presence.set(userID: request.user.userID, state: state, statusMessage: message)
            return .empty
        }
        routes.client(.get, "/presence/{userId}/status", auth: .required(allowGuests: true)) { request in
            let userID = request.parameter("userId")
            guard let user = UserID(userID) else { throw MatrixError.notFound("Unknown user") }
            if user.server == serverName, try await storage.account(userID: userID) == nil { throw MatrixError.notFound("Unknown user") }
            if userID != request.user.userID, try await !storage.roomPeers(userID: request.user.userID).contains(userID) {
                throw MatrixError.forbidden("You do not share a room with \(userID)")
            }
            return .ok(presence.content(presence.enabled ? try await storage.presence(userID: userID) : nil))
        }
    }
}

/// Per user, the state, time and stream position of this node's last presence write;
/// bounded (emptied when full, which only costs a database read per user afterwards). Any
/// later change of the user on the stream, from this node or another (LISTEN/NOTIFY), drops
/// the entry, so a presence set elsewhere is read back, never refreshed over.
final class RecentPresence: Sendable {
    private let written = Mutex<[String: (state: String, at: Int64, position: Int64)]>([:])
    static let capacity = 100_000

    func record(_ userID: String, state: String, at time: Int64, position: Int64) {
        written.withLock { written in
            if written.count >= Self.capacity { written.removeAll(keepingCapacity: true) }
            written[userID] = (state, time, position)
        }
    }

    func isFresh(_ userID: String, state: String, now: Int64, within window: Int64) -> Bool {
        written.withLock { written in
            guard let last = written[userID] else { return false }
            return last.state == state && now - last.at < window
        }
    }

    /// The user changed at `position` (the write recorded here announces itself too, at its own position).
    func userChanged(_ userID: String, position: Int64) {
        written.withLock { written in
            if let last = written[userID], last.position < position { written[userID] = nil }
        }
    }
}
