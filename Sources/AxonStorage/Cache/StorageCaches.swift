import MatrixModel
import Synchronization

/// The read-through caches both backends put in front of their hottest reads
/// (docs/ARCHITECTURE.md "Caches"): access tokens, parsed events, current state and state snapshots (as event IDs,
/// the events themselves coming from the event cache), memberships per room and per user, and
/// push rules. Each is bounded by its share of `cache_memory_mb` and invalidated only by
/// `CacheChange`s the database's triggers report, after the writing transaction has ended.
public final class StorageCaches: Sendable {
    let tokens: BoundedCache<String, TokenOwner>
    let events: BoundedCache<String, StoredEvent>
    let currentState: BoundedCache<String, [StateKey: String]>
    let stateGroups: BoundedCache<Int64, [StateKey: String]>
    let roomMembers: BoundedCache<String, RoomMembers>
    let userMemberships: BoundedCache<String, [Membership]>
    let pushRules: BoundedCache<String, PushRulesEntry>
    let timelineTails: BoundedCache<String, TimelineTail>
    /// Changes reported inside the current write transaction (SQLite: the one writer).
    private let pending = Mutex(Set<CacheChange>())

    public static let defaultBudgetBytes = 64 << 20

    public init(budgetBytes: Int = StorageCaches.defaultBudgetBytes) {
        func share(_ percent: Int) -> Int { budgetBytes / 100 * percent }
        tokens = BoundedCache(name: "access_tokens", budgetBytes: share(3))
        events = BoundedCache(name: "events", budgetBytes: share(47))
        currentState = BoundedCache(name: "current_state", budgetBytes: share(10))
        stateGroups = BoundedCache(name: "state_snapshots", budgetBytes: share(15))
        roomMembers = BoundedCache(name: "room_members", budgetBytes: share(14))
        userMemberships = BoundedCache(name: "user_memberships", budgetBytes: share(5))
        pushRules = BoundedCache(name: "push_rules", budgetBytes: share(3))
        timelineTails = BoundedCache(name: "timeline_tails", budgetBytes: share(3))
    }

    public var statistics: [CacheStatistics] {
        [
            tokens.statistics, events.statistics, currentState.statistics, stateGroups.statistics, roomMembers.statistics,
            userMemberships.statistics, pushRules.statistics, timelineTails.statistics,
        ]
    }

    // MARK: Invalidation

    /// A trigger's report, held until the transaction ends.
    func record(_ line: String) {
        let change = CacheChange(line: Substring(line)) ?? .everything
        pending.withLock { pending in
            if pending.count < CacheChange.batchLimit { pending.insert(change) } else { pending = [.everything] }
        }
    }

    /// Applies what the ended transaction reported (committed or not: voiding too much is safe).
    func applyPending() {
        let changes = pending.withLock { pending in
            let taken = pending
            pending = []
            return taken
        }
        apply(changes)
    }

    func apply<S: Sequence>(_ changes: S) where S.Element == CacheChange {
        for change in changes {
            switch change {
            case .account(let user): tokens.invalidate { _, owner in owner.userID == user }
            case .pushRules(let user): pushRules.invalidate(user)
            case .membership(let room, let user):
                userMemberships.invalidate(user)
                roomMembers.invalidatePart(room) { $0.stale.insert(user) }
            case .currentState(let room): currentState.invalidate(room)
            case .event(let id): events.invalidate(id)
            case .stateGroup(let group): stateGroups.invalidate(group)
            case .everything: removeAll()
            }
        }
    }

    /// After a gap in other nodes' reports (the listener reconnected), nothing cached can be trusted.
    public func removeAll() {
        tokens.removeAll()
        events.removeAll()
        currentState.removeAll()
        stateGroups.removeAll()
        roomMembers.removeAll()
        userMemberships.removeAll()
        pushRules.removeAll()
        timelineTails.removeAll()
    }

    // MARK: Reads

    func tokenOwner(_ hash: String, load: () async throws -> TokenOwner?) async throws -> TokenOwner? {
        if let owner = tokens.value(hash) { return owner }
        let ticket = tokens.ticketForAll()
        guard let owner = try await load() else { return nil }
        tokens.store(hash, owner, bytes: 200 + owner.userID.utf8.count + owner.deviceID.utf8.count, ticket: ticket)
        return owner
    }

    /// The events found, in the order asked for; missing ones are read with one `load`.
    func events(_ ids: [String], load: ([String]) async throws -> [StoredEvent]) async throws -> [StoredEvent] {
        var found: [String: StoredEvent] = [:]
        var missing: [String] = []
        var asked = Set<String>()
        for id in ids where asked.insert(id).inserted {
            if let event = events.value(id) { found[id] = event } else { missing.append(id) }
        }
        if !missing.isEmpty {
            let ticket = events.ticketForAll()
            for event in try await load(missing) {
                found[event.pdu.eventID] = event
                events.store(event.pdu.eventID, event, bytes: Self.size(of: event), ticket: ticket)
            }
        }
        return ids.compactMap { id in found.removeValue(forKey: id) }
    }

    /// `roomEventsByStream`: the IDs from the room's timeline tail when it knows them all (see
    /// `TimelineTail`), else from `load` (the index read, newest first), merged into the tail;
    /// the events from `events`. A tail that lists an event the database no longer has (a
    /// purge) is dropped and the index read again.
    func roomEvents(
        _ roomID: String, after: Int64, upTo: Int64, limit: Int, latest: Int64?, load: () async throws -> [TimelineEntry],
        events: ([String]) async throws -> [StoredEvent]
    ) async throws -> [StoredEvent] {
        guard after >= -1, limit > 0 else { return try await events(load().map(\.eventID)) }
        if let ids = timelineTails.answer(roomID, { $0.answer(after: after, upTo: upTo, latest: latest, limit: limit) }) {
            let found = try await events(ids)
            if found.count == ids.count { return found }
            timelineTails.invalidate(roomID)
        }
        let ticket = timelineTails.ticket(for: roomID)
        let read = try await load()
        timelineTails.merge(roomID, TimelineTail(read: read, after: after, upTo: upTo, limit: limit), ticket: ticket, bytes: \.bytes) {
            $0.merged(with: $1)
        }
        return try await events(read.map(\.eventID))
    }

    typealias TimelineTicket = BoundedCache<String, TimelineTail>.Ticket

    /// Taken before a batched read of these rooms' newest events (`timelines`).
    func timelineTickets(_ roomIDs: [String]) -> [String: TimelineTicket] {
        Dictionary(roomIDs.map { ($0, timelineTails.ticket(for: $0)) }, uniquingKeysWith: { first, _ in first })
    }

    /// A batched read of each room's newest events in (-1, upTo] (`entries`, newest first):
    /// merged into the rooms' tails and resolved to events with one `events` call.
    func timelines(
        _ entries: [String: [TimelineEntry]], upTo: Int64, limit: Int, tickets: [String: TimelineTicket],
        events: ([String]) async throws -> [StoredEvent]
    ) async throws -> [String: [StoredEvent]] {
        for (roomID, read) in entries {
            guard let ticket = tickets[roomID] else { continue }
            timelineTails.merge(roomID, TimelineTail(read: read, after: -1, upTo: upTo, limit: limit), ticket: ticket, bytes: \.bytes) {
                $0.merged(with: $1)
            }
        }
        let found = Dictionary(
            try await events(entries.values.flatMap { $0.map(\.eventID) }).map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        return entries.mapValues { read in read.compactMap { found[$0.eventID] } }
    }

    func currentStateIDs(_ roomID: String, load: () async throws -> [StateKey: String]) async throws -> [StateKey: String] {
        try await readThrough(currentState, roomID, bytes: Self.size(of:), load: load)
    }

    func stateGroupIDs(_ group: Int64, load: () async throws -> [StateKey: String]) async throws -> [StateKey: String] {
        try await readThrough(stateGroups, group, bytes: Self.size(of:), load: load)
    }

    /// One key: the cached value, or `load`'s, stored unless an invalidation came in between.
    private func readThrough<Key, Value>(
        _ cache: BoundedCache<Key, Value>, _ key: Key, bytes: (Value) -> Int, load: () async throws -> Value
    ) async throws -> Value {
        if let value = cache.value(key) { return value }
        let ticket = cache.ticket(for: key)
        let value = try await load()
        cache.store(key, value, bytes: bytes(value), ticket: ticket)
        return value
    }

    /// A room's member rows; after a membership change only the changed users are re-read.
    func roomMembers(
        _ roomID: String, loadAll: () async throws -> [Membership], loadUsers: ([String]) async throws -> [Membership]
    ) async throws -> RoomMembers {
        let ticket = roomMembers.ticket(for: roomID)
        var members: RoomMembers
        if let cached = roomMembers.value(roomID) {
            guard !cached.stale.isEmpty else { return cached }
            members = cached
            let stale = Array(members.stale)
            members.replace(users: stale, with: try await loadUsers(stale))
        } else {
            members = RoomMembers(try await loadAll())
        }
        roomMembers.store(roomID, members, bytes: members.bytes, ticket: ticket)
        return members
    }

    func userMemberships(_ userID: String, load: () async throws -> [Membership]) async throws -> [Membership] {
        try await readThrough(userMemberships, userID, bytes: { 64 + $0.count * RoomMembers.bytesPerRow }, load: load)
    }

    /// Stored rule documents of these users (absent: never changed); unknown users read with one `load`.
    func pushRules(_ userIDs: [String], load: ([String]) async throws -> [String: JSONObject]) async throws -> [String: JSONObject] {
        var documents: [String: JSONObject] = [:]
        var missing: [String] = []
        for user in userIDs {
            if let entry = pushRules.value(user) {
                if let document = entry.document { documents[user] = document }
            } else {
                missing.append(user)
            }
        }
        guard !missing.isEmpty else { return documents }
        let ticket = pushRules.ticketForAll()
        let loaded = try await load(missing)
        for user in missing {
            let document = loaded[user]
            if let document { documents[user] = document }
            pushRules.store(user, PushRulesEntry(document: document), bytes: 64 + (document.map { Self.size(of: .object($0)) } ?? 0), ticket: ticket)
        }
        return documents
    }

    // MARK: Sizes

    /// Roughly what a value occupies in memory: strings' bytes plus a fixed cost per node.
    static func size(of json: JSON) -> Int {
        switch json {
        case .string(let string): return 32 + string.utf8.count
        case .array(let items): return 32 + items.reduce(0) { $0 + size(of: $1) }
        case .object(let object): return 48 + object.reduce(0) { $0 + 32 + $1.key.utf8.count + size(of: $1.value) }
        default: return 16
        }
    }

    static func size(of event: StoredEvent) -> Int {
        200 + size(of: .object(event.pdu.json)) + event.pdu.eventID.utf8.count + event.roomID.utf8.count
    }

    static func size(of state: [StateKey: String]) -> Int {
        state.reduce(64) { $0 + 96 + $1.key.type.utf8.count + $1.key.stateKey.utf8.count + $1.value.utf8.count }
    }
}

/// A push-rule cache entry: nil when the user never changed a rule (so that is cached too).
struct PushRulesEntry: Sendable {
    var document: JSONObject?
}

/// Every membership row of a room, by user, with what changed since it was read. The sorted
/// lists are built when the rows change, not on each read: push evaluation asks for a big
/// room's joined members on every message.
struct RoomMembers: Sendable {
    private(set) var byUser: [String: Membership]
    /// Sorted by user ID, as the uncached query answered.
    private(set) var sorted: [Membership] = []
    private(set) var joined: [Membership] = []
    /// Users whose rows changed after this copy was read.
    var stale: Set<String> = []
    private(set) var invitedCount = 0

    static let bytesPerRow = 240

    init(_ rows: [Membership]) {
        byUser = Dictionary(rows.map { ($0.userID, $0) }, uniquingKeysWith: { _, newer in newer })
        rebuild()
    }

    var bytes: Int { 64 + (byUser.count + joined.count) * Self.bytesPerRow }
    var joinedCount: Int { joined.count }

    func rows(membership: String?) -> [Membership] {
        switch membership {
        case nil: return sorted
        case "join": return joined
        case let wanted?: return sorted.filter { $0.membership == wanted }
        }
    }

    /// Spec "room summary": the first `limit` joined or invited members by stream order other
    /// than `user`, or when there are none, those who left or were banned.
    func heroes(excluding user: String, limit: Int) -> [Membership] {
        guard limit > 0 else { return [] }
        for wanted in [["join", "invite"], ["leave", "ban"]] {
            // The earliest `limit` rows, kept sorted: a pass over the room, no sort of all of it.
            var earliest: [Membership] = []
            for row in sorted where row.userID != user && wanted.contains(row.membership) {
                guard earliest.count < limit || row.streamPosition < earliest[limit - 1].streamPosition else { continue }
                if earliest.count == limit { earliest.removeLast() }
                let index = earliest.firstIndex { $0.streamPosition > row.streamPosition } ?? earliest.endIndex
                earliest.insert(row, at: index)
            }
            if !earliest.isEmpty { return earliest }
        }
        return []
    }

    /// Patches the sorted lists in place (a binary search and a move per changed user), so a
    /// join to a room of thousands costs no re-sort of its members.
    mutating func replace(users: [String], with rows: [Membership]) {
        let fresh = Dictionary(rows.map { ($0.userID, $0) }, uniquingKeysWith: { _, newer in newer })
        for user in Set(users) {
            if let previous = byUser.removeValue(forKey: user) {
                Self.remove(user, from: &sorted)
                if previous.membership == "join" { Self.remove(user, from: &joined) }
                if previous.membership == "invite" { invitedCount -= 1 }
            }
            guard let row = fresh[user] else { continue }
            byUser[user] = row
            Self.insert(row, into: &sorted)
            if row.membership == "join" { Self.insert(row, into: &joined) }
            if row.membership == "invite" { invitedCount += 1 }
        }
        stale = []
    }

    /// The index of the first row whose user ID is not below `user`.
    private static func lowerBound(_ user: String, in rows: [Membership]) -> Int {
        var low = 0
        var high = rows.count
        while low < high {
            let middle = (low + high) / 2
            if rows[middle].userID < user { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private static func remove(_ user: String, from rows: inout [Membership]) {
        let index = lowerBound(user, in: rows)
        if index < rows.count, rows[index].userID == user { rows.remove(at: index) }
    }

    private static func insert(_ row: Membership, into rows: inout [Membership]) {
        rows.insert(row, at: lowerBound(row.userID, in: rows))
    }

    private mutating func rebuild() {
        sorted = byUser.values.sorted { $0.userID < $1.userID }
        joined = sorted.filter { $0.membership == "join" }
        invitedCount = sorted.reduce(0) { $0 + ($1.membership == "invite" ? 1 : 0) }
    }
}
