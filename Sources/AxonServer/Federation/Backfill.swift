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
                guard let oldest = events.first else { continue }
                // Each event is stored with its own state, so history visibility judges it by
                // the room as it was: the state before the oldest (asked of the server), then
                // walked forward. Failing that, the state of the earliest event this server has.
                let remote = oldest.type == "m.room.create" ? nil : try? await receiver.remoteState(at: oldest.eventID, roomID: roomID, version: room.version, origin: server)
                let pageIDs = Set(events.map(\.eventID))
                let fallback = earliest.stateGroup
                let stored = try await storage.writeRoom(roomID: roomID) { tx -> Int in
                    var state: StateMap?
                    var group = fallback
                    if oldest.type == "m.room.create" {
                        // Nothing is before the create event.
                        state = [:]
                        group = try await tx.snapshot([:], near: nil)
                    } else if let remote {
                        for pdu in remote.fetched.values.sorted(by: { $0.depth < $1.depth }) where !pageIDs.contains(pdu.eventID) {
                            try? await graph.storeOutlier(pdu, in: tx)
                        }
                        let (map, known) = try await graph.stateMap(of: remote.stateIDs, in: tx)
                        if map[.create] != nil {
                            state = map
                            group = try await graph.storeAsPast(state: map, events: known.filter { !pageIDs.contains($0.value.eventID) }, in: tx)
                        }
                    }
                    var count = 0
                    for pdu in events {
                        guard try await graph.passesAuthEvents(pdu, in: tx) else { continue }
                        if var current = state, let stateKey = pdu.stateKey {
                            current[StateKey(pdu.type, stateKey)] = pdu.eventID
                            group = try await tx.snapshot(current, near: group)
                            state = current
                        }
                        if try await tx.insertHistorical(pdu, stateGroup: group) { count += 1 }
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
