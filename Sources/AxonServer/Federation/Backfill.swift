import AxonStorage
import MatrixModel

/// History from before this server joined a room (spec "Backfilling and retrieving missing
/// events"): asked of a server in the room with `/backfill` from the events this server lacks,
/// each event checked like any received PDU and stored as the room's past (negative stream
/// positions: it never shows up as new in `/sync`; `/messages` orders by depth).
struct Backfill: Sendable {
    let context: ServerContext
    static let pageSize = 50

    /// Fetches one page of older history for a `/messages` page going backwards: from the
    /// events this page's events build on but this server lacks (a gap inside the history it
    /// has, e.g. one bridged by its state), else, when the page came back short, from anywhere
    /// the room's history is missing. Returns how many events were stored.
    func fetchOlder(roomID: String, before page: [StoredEvent], pageIsShort: Bool) async -> Int {
        let storage = context.storage
        do {
            // Rooms only this server is in (most /messages calls) stop here, before any scan.
            let servers = try await storage.joinedServers(roomID: roomID, excluding: context.serverName.value)
                .filter(context.federation.client.mayFederate)
            guard !servers.isEmpty, let room = try await storage.room(id: roomID) else { return 0 }
            let inPage = Set(page.map(\.pdu.eventID))
            let cited = Array(Set(page.flatMap(\.pdu.prevEvents)).subtracting(inPage))
            let stored = Set(try await storage.events(ids: cited).map(\.pdu.eventID))
            var missing = Array(cited.filter { !stored.contains($0) }.prefix(20))
            if missing.isEmpty {
                guard pageIsShort else { return 0 }
                missing = try await storage.backwardExtremities(roomID: roomID, limit: 20)
            }
            guard !missing.isEmpty else { return 0 }
            guard let earliest = try await storage.roomEvents(roomID: roomID, from: nil, direction: .forward, limit: 1).first else { return 0 }
            let query = missing.map { "v=" + PercentEncoding.component($0) }.joined(separator: "&")
            let receiver = context.pduReceiver
            for server in servers {
                guard
                    let response = try? await context.federation.client.request(
                        .GET, destination: server,
                        path: "/_matrix/federation/v1/backfill/\(PercentEncoding.component(roomID))?\(query)&limit=\(Self.pageSize)"),
                    response.status == 200
                else { continue }
                var checked: [PDU] = []
                for json in (response.json["pdus"]?.arrayValue ?? []).prefix(Self.pageSize) {
                    guard let object = json.objectValue,
                        let pdu = try? await receiver.verified(try ReceivedPDU.parse(object, version: room.version, roomID: roomID), version: room.version)
                    else { continue }
                    checked.append(pdu)
                }
                let graph = receiver.graph
                let events = checked.sorted { $0.depth < $1.depth }
                // Stored with the state of the earliest event this server has: the state its
                // history visibility is judged by until that history's own state is known.
                let group = earliest.stateGroup
                let stored = try await storage.writeRoom(roomID: roomID) { tx -> Int in
                    var count = 0
                    for pdu in events {
                        if try await graph.passesAuthEvents(pdu, in: tx) {
                            if try await tx.insertHistorical(pdu, stateGroup: group) { count += 1 }
                        }
                    }
                    return count
                }
                return stored
            }
        } catch {
            context.logger.info("backfill failed", metadata: ["room_id": "\(roomID)", "error": "\(error)"])
        }
        return 0
    }
}
