import AxonStorage
import MatrixModel

/// Which events an application service is sent (spec "Pushing events"): those whose sender
/// or state key it claims, those in rooms its room namespace matches or with an alias its
/// alias namespace matches, and those in rooms where one of its users is joined.
struct AppServiceInterest {
    let storage: any Storage
    let serverName: ServerName
    /// Per room, for one batch: its aliases and its local joined members.
    private var rooms: [String: (aliases: [String], members: [String])] = [:]

    init(storage: any Storage, serverName: ServerName) {
        self.storage = storage
        self.serverName = serverName
    }

    mutating func isInteresting(_ event: StoredEvent, to service: AppServiceRegistration) async throws -> Bool {
        let pdu = event.pdu
        if service.claims(user: pdu.sender, on: serverName), UserID(pdu.sender)?.server == serverName { return true }
        if pdu.type == "m.room.member", let target = pdu.stateKey, service.claims(user: target, on: serverName) { return true }
        return try await isInterested(inRoom: event.roomID, service: service)
    }

    /// A room the service's room or alias namespace matches, or where one of its users is joined.
    mutating func isInterested(inRoom roomID: String, service: AppServiceRegistration) async throws -> Bool {
        if service.rooms.contains(where: { $0.matches(roomID) }) { return true }
        let room = try await facts(roomID)
        if room.aliases.contains(where: { alias in service.aliases.contains { $0.matches(alias) } }) { return true }
        return room.members.contains { service.claims(user: $0, on: serverName) }
    }

    private mutating func facts(_ roomID: String) async throws -> (aliases: [String], members: [String]) {
        if let known = rooms[roomID] { return known }
        var aliases = try await storage.aliases(roomID: roomID)
        if let canonical = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.canonical_alias", "")) {
            if let alias = canonical.content["alias"]?.stringValue { aliases.append(alias) }
            aliases += (canonical.content["alt_aliases"]?.arrayValue ?? []).compactMap(\.stringValue)
        }
        let members = try await storage.members(roomID: roomID, membership: "join").map(\.userID).filter { UserID($0)?.server == serverName }
        rooms[roomID] = (aliases, members)
        return (aliases, members)
    }
}
