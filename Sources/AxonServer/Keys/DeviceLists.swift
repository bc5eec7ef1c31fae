import AxonStorage
import MatrixModel

/// Device-list tracking (spec "Tracking the device list for a user"): whose devices a client
/// should re-fetch (`changed`) and whose it may forget (`left`) between two stream positions.
/// Every room counts, encrypted or not: a superset costs a client a /keys/query, a missed
/// change costs it an undecryptable message.
struct DeviceLists: Sendable {
    let storage: any Storage
    /// Up to this many changed users are checked for a shared room one by one; beyond it,
    /// the viewer's whole peer list is cheaper to read once.
    static let candidatesCheckedAlone = 500

    func updates(viewer: String, after: Int64, upTo: Int64) async throws -> (changed: Set<String>, left: Set<String>) {
        try await resolve(
            viewer: viewer, memberships: try await storage.membershipChanges(viewer: viewer, after: after, upTo: upTo),
            changed: try await storage.deviceListChanges(after: after, upTo: upTo))
    }

    /// From the raw changes in a range: whose lists the viewer should re-fetch or may forget.
    func resolve(
        viewer: String, memberships: [MembershipChange], changed deviceChanges: Set<String>
    ) async throws -> (changed: Set<String>, left: Set<String>) {
        var changed = deviceChanges
        guard !memberships.isEmpty || !changed.isEmpty else { return ([], []) }
        var left = Set<String>()
        for change in memberships {
            let joined = change.membership == "join"
            if change.userID == viewer {
                // Joining a room means tracking everyone in it; leaving, perhaps no longer.
                let members = try await storage.members(roomID: change.roomID, membership: "join").map(\.userID)
                if joined { changed.formUnion(members) } else { left.formUnion(members) }
            } else if joined {
                changed.insert(change.userID)
            } else if change.membership != "invite" && change.membership != "knock" {
                left.insert(change.userID)
            }
        }
        // A few candidates are checked one by one; many (the viewer joined a big room) are
        // checked against the viewer's whole peer list, read once.
        let candidates = changed.union(left).subtracting([viewer])
        let peers =
            candidates.count <= Self.candidatesCheckedAlone
            ? try await storage.roomPeers(userID: viewer, among: candidates) : Set(try await storage.roomPeers(userID: viewer))
        changed = changed.filter { $0 == viewer || peers.contains($0) }
        left = left.filter { $0 != viewer && !peers.contains($0) }
        return (changed, left)
    }
}

extension ServerContext {
    /// Wakes the syncs that should see a device-list change: the user's own and those of
    /// everyone in their rooms.
    func announceDeviceListChange(_ userID: String, at position: Int64?) async throws {
        guard let position else { return }
        notifier.userChanged(userID, position: position)
        let local = UserID(userID)?.server == serverName
        var servers = Set<String>()
        for membership in try await storage.memberships(userID: userID) where membership.membership == "join" {
            notifier.roomChanged(membership.roomID, position: position)
            if local { servers.formUnion(try await storage.joinedServers(roomID: membership.roomID, excluding: serverName.value)) }
        }
        // Servers sharing a room with a local user hear of it (`m.device_list_update`). No
        // `prev_id` is given, so they fetch the whole list again (`/user/devices`): always
        // right, whatever they missed.
        let device = try await storage.devices(userID: userID).first?.deviceID ?? ""
        let content: JSON = ["user_id": .string(userID), "device_id": .string(device), "stream_id": .int(position), "prev_id": []]
        try await sendUserEDU("m.device_list_update", content: content, to: servers)
    }

    /// A local user's new master or self-signing key, for the servers sharing a room with
    /// them (`m.signing_key_update`); the user-signing key stays private.
    func announceSigningKeys(_ userID: String, master: JSON?, selfSigning: JSON?) async throws {
        guard master != nil || selfSigning != nil else { return }
        var servers = Set<String>()
        for membership in try await storage.memberships(userID: userID) where membership.membership == "join" {
            servers.formUnion(try await storage.joinedServers(roomID: membership.roomID, excluding: serverName.value))
        }
        var content: JSONObject = ["user_id": .string(userID)]
        if let master { content["master_key"] = master }
        if let selfSigning { content["self_signing_key"] = selfSigning }
        try await sendUserEDU("m.signing_key_update", content: .object(content), to: servers)
    }

    private func sendUserEDU(_ type: String, content: JSON, to servers: Set<String>) async throws {
        let reachable = servers.filter(federation.client.mayFederate)
        guard !reachable.isEmpty else { return }
        try await storage.enqueueOutbound(
            destinations: reachable.sorted(), eventID: nil, edu: ["edu_type": .string(type), "content": content], now: nowMillis())
        federation.sender.wake()
    }
}
