import MatrixModel
import Testing

@testable import AxonStorage

/// The timeline tail answers `roomEventsByStream` only when it knows every event of the range.
/// A room grows by events at increasing positions (with other rooms' positions between them);
/// random reads, each with the room's newest position as the sync would know it, must give
/// exactly what the index read gives, whether the tail answered or not.
@Suite struct TimelineTailTests {
    /// A seeded generator, so a failure repeats.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// The index read: the newest `limit` of `room` in (after, upTo], newest first.
    static func indexRead(_ room: [TimelineEntry], after: Int64, upTo: Int64, limit: Int) -> [TimelineEntry] {
        Array(room.filter { $0.position > after && $0.position <= upTo }.reversed().prefix(limit))
    }

    static func event(_ entry: TimelineEntry) -> StoredEvent {
        StoredEvent(
            pdu: PDU(eventID: entry.eventID, json: ["type": "m.room.message", "room_id": "!r", "sender": "@a:hs"]), roomID: "!r",
            streamPosition: entry.position, stateGroup: 0)
    }

    @Test func answersMatchTheIndexWhateverTheReads() async throws {
        var random = SplitMix(state: 18)
        let caches = StorageCaches()
        var room: [TimelineEntry] = []
        var position: Int64 = 0
        var indexReads = 0
        for step in 0..<3_000 {
            // Sometimes the room gets an event, sometimes another room takes positions.
            position += Int64.random(in: 1...3, using: &random)
            if Bool.random(using: &random) { room.append(TimelineEntry(position: position, eventID: "$\(step)")) }
            let upTo = position
            let after = Bool.random(using: &random) ? -1 : Int64.random(in: -1...upTo, using: &random)
            let limit = Int.random(in: 1...25, using: &random)
            let newest = room.last.map { $0.position <= upTo ? $0.position : upTo }
            // What a sync knows: the newest position, or just that nothing came after `after`.
            let latest: Int64? = switch Int.random(in: 0..<3, using: &random) {
            case 0: nil
            case 1: newest ?? after
            default: max(newest ?? -1, after)
            }
            let snapshot = room
            let read = try await caches.roomEvents(
                "!r", after: after, upTo: upTo, limit: limit, latest: latest,
                load: {
                    indexReads += 1
                    return Self.indexRead(snapshot, after: after, upTo: upTo, limit: limit)
                },
                events: { ids in ids.compactMap { id in snapshot.first { $0.eventID == id }.map(Self.event) } })
            #expect(read.map(\.pdu.eventID) == Self.indexRead(room, after: after, upTo: upTo, limit: limit).map(\.eventID), "step \(step)")
        }
        // The tail answered a good share of the reads (or it would be useless, not wrong).
        #expect(indexReads < 2_500)
    }

    @Test func aTailListingAVanishedEventIsDropped() async throws {
        let caches = StorageCaches()
        var room = (1...5).map { TimelineEntry(position: Int64($0), eventID: "$\($0)") }
        func read() async throws -> [String] {
            let snapshot = room
            return try await caches.roomEvents(
                "!r", after: -1, upTo: 5, limit: 10, latest: 5,
                load: { Self.indexRead(snapshot, after: -1, upTo: 5, limit: 10) },
                events: { ids in ids.compactMap { id in snapshot.first { $0.eventID == id }.map(Self.event) } }
            ).map(\.pdu.eventID)
        }
        #expect(try await read() == ["$5", "$4", "$3", "$2", "$1"])
        room.remove(at: 2)
        #expect(try await read() == ["$5", "$4", "$2", "$1"])
    }

    @Test func tailsThatDoNotTouchKeepTheNewer() {
        let old = TimelineTail(read: [TimelineEntry(position: 3, eventID: "$3")], after: 2, upTo: 4, limit: 5)
        let new = TimelineTail(read: [TimelineEntry(position: 9, eventID: "$9")], after: 8, upTo: 10, limit: 5)
        let merged = old.merged(with: new)
        #expect(merged.entries.map(\.eventID) == ["$9"])
        // It knows nothing of (4, 8]: a read reaching there is not answered.
        #expect(merged.answer(after: 4, upTo: 10, latest: 9, limit: 5) == nil)
        #expect(merged.answer(after: 8, upTo: 10, latest: 9, limit: 5) == ["$9"])
    }
}
