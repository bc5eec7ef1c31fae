/// One row of a room's timeline index.
struct TimelineEntry: Sendable, Equatable {
    var position: Int64
    var eventID: String
}

/// The newest events of a room, known to be *every* event of the room with a stream position
/// in (floor, complete]. New events never invalidate it, so it needs no report from another
/// node: an event that commits later has a position above `complete` (positions are handed
/// out under a lock held until commit, and historical events get negative positions, which
/// no tail lists). A read is answered only when the caller knows the room's newest position
/// (`/sync` reads it for every changed room) and the tail reaches it; otherwise the database
/// is read and the result merged in. Of ten syncs woken by one message, the first reads the
/// new event and the other nine find it here.
struct TimelineTail: Sendable {
    private(set) var floor: Int64
    private(set) var complete: Int64
    /// Ascending by position.
    private(set) var entries: [TimelineEntry]

    /// Enough for a timeline of the default limit, one event past it, and a lookahead.
    static let capacity = 48

    /// What a read of (after, upTo] with `limit` found, newest first.
    init(read: [TimelineEntry], after: Int64, upTo: Int64, limit: Int) {
        entries = read.reversed()
        complete = upTo
        // A full read may have stopped above older events of the range; a short one did not.
        floor = read.count < limit ? after : (read.last?.position ?? after + 1) - 1
    }

    /// The IDs of the newest `limit` events in (after, upTo], newest first, when this tail
    /// knows them all. `latest`, if known, is a position after which the room has no events up
    /// to `upTo`.
    func answer(after: Int64, upTo: Int64, latest: Int64?, limit: Int) -> [String]? {
        let end = min(upTo, latest ?? upTo)
        guard complete >= end, after >= -1, limit > 0 else { return nil }
        var ids: [String] = []
        for entry in entries.reversed() where entry.position <= end {
            guard entry.position > after else { break }
            ids.append(entry.eventID)
            if ids.count == limit { return ids }
        }
        // Fewer than asked for: right only if the tail reaches down to `after`.
        return floor <= after ? ids : nil
    }

    /// Both tails' knowledge when their ranges touch, else the newer one; trimmed to `capacity`.
    func merged(with other: TimelineTail) -> TimelineTail {
        guard floor <= other.complete, other.floor <= complete else { return other.complete > complete ? other : self }
        var union = self
        union.floor = min(floor, other.floor)
        union.complete = max(complete, other.complete)
        var byPosition: [Int64: TimelineEntry] = [:]
        for entry in entries + other.entries { byPosition[entry.position] = entry }
        union.entries = byPosition.values.sorted { $0.position < $1.position }
        if union.entries.count > Self.capacity {
            let dropped = union.entries.count - Self.capacity
            union.floor = union.entries[dropped - 1].position
            union.entries.removeFirst(dropped)
        }
        return union
    }

    var bytes: Int { 64 + entries.reduce(0) { $0 + 56 + $1.eventID.utf8.count } }
}
