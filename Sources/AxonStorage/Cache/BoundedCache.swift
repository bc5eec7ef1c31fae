import Synchronization

/// A size-bounded map in front of the database, safe against the one race a read-through
/// cache has: a reader that loaded a value before a write committed must not store it after
/// that write's invalidation ran. Every invalidation bumps a generation (one of 64 stripes for
/// single keys, plus one for the whole cache); a value is stored only when the generation it
/// was loaded under is still current.
///
/// Eviction is two-generation LRU: entries live in `young` until it holds half the budget,
/// then `young` becomes `old` and the previous `old` is dropped. A hit in `old` moves the
/// entry back to `young`, so what is used survives; everything is O(1).
final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// A point in the cache's history, taken before reading the database.
    struct Ticket: Sendable {
        /// -1 for a ticket covering every key.
        fileprivate var stripe: Int
        /// The stripe's generation, or for an all-keys ticket the count of all invalidations.
        fileprivate var generation: UInt64
        fileprivate var wholeGeneration: UInt64
    }

    private struct Entry {
        var value: Value
        var bytes: Int
    }

    private struct State {
        var young: [Key: Entry] = [:]
        var old: [Key: Entry] = [:]
        var youngBytes = 0
        var oldBytes = 0
        var stripes = [UInt64](repeating: 0, count: BoundedCache.stripeCount)
        /// Bumped by invalidations of many keys at once.
        var whole: UInt64 = 0
        /// Bumped by every invalidation.
        var any: UInt64 = 0
        var statistics: CacheStatistics
    }

    private static var stripeCount: Int { 64 }
    private let state: Mutex<State>
    private let budget: Int

    init(name: String, budgetBytes: Int) {
        budget = max(budgetBytes, 0)
        state = Mutex(State(statistics: CacheStatistics(name: name)))
    }

    private static func stripe(_ key: Key) -> Int {
        Int(UInt(bitPattern: key.hashValue) % UInt(stripeCount))
    }

    func value(_ key: Key) -> Value? {
        state.withLock { state in
            if let entry = state.young[key] {
                state.statistics.hits += 1
                return entry.value
            }
            if let entry = state.old.removeValue(forKey: key) {
                state.oldBytes -= entry.bytes
                state.statistics.hits += 1
                Self.insertYoung(key, entry, into: &state, budget: budget)
                return entry.value
            }
            state.statistics.misses += 1
            return nil
        }
    }

    /// What `answer` makes of the entry; a hit only when it answers (an entry that covers too
    /// little for this read counts as a miss).
    func answer<Answer>(_ key: Key, _ answer: (Value) -> Answer?) -> Answer? {
        state.withLock { state in
            let found = state.young[key]?.value ?? state.old[key]?.value
            guard let found, let result = answer(found) else {
                state.statistics.misses += 1
                return nil
            }
            state.statistics.hits += 1
            if let entry = state.old.removeValue(forKey: key) {
                state.oldBytes -= entry.bytes
                Self.insertYoung(key, entry, into: &state, budget: budget)
            }
            return result
        }
    }

    /// Taken before the database read whose result may be stored with `store(_:_:bytes:ticket:)`.
    func ticket(for key: Key) -> Ticket {
        let stripe = Self.stripe(key)
        return state.withLock { Ticket(stripe: stripe, generation: $0.stripes[stripe], wholeGeneration: $0.whole) }
    }

    /// A ticket for a read of many keys: any invalidation at all since then voids it.
    func ticketForAll() -> Ticket {
        state.withLock { Ticket(stripe: -1, generation: $0.any, wholeGeneration: $0.whole) }
    }

    func store(_ key: Key, _ value: Value, bytes: Int, ticket: Ticket) {
        state.withLock { state in
            guard Self.isCurrent(ticket, in: state) else { return }
            if let previous = state.young.removeValue(forKey: key) { state.youngBytes -= previous.bytes }
            if let previous = state.old.removeValue(forKey: key) { state.oldBytes -= previous.bytes }
            Self.insertYoung(key, Entry(value: value, bytes: bytes), into: &state, budget: budget)
        }
    }

    /// Stores `value`, or `combine(current, value)` when there is a current entry, in one
    /// step: two readers merging into the same entry cannot lose each other's part.
    func merge(_ key: Key, _ value: Value, ticket: Ticket, bytes: (Value) -> Int, _ combine: (Value, Value) -> Value) {
        state.withLock { state in
            guard Self.isCurrent(ticket, in: state) else { return }
            var merged = value
            if let previous = state.young.removeValue(forKey: key) {
                state.youngBytes -= previous.bytes
                merged = combine(previous.value, value)
            } else if let previous = state.old.removeValue(forKey: key) {
                state.oldBytes -= previous.bytes
                merged = combine(previous.value, value)
            }
            Self.insertYoung(key, Entry(value: merged, bytes: bytes(merged)), into: &state, budget: budget)
        }
    }

    /// No invalidation the ticket covers came in since it was taken.
    private static func isCurrent(_ ticket: Ticket, in state: State) -> Bool {
        if ticket.stripe < 0 { return state.any == ticket.generation }
        return state.whole == ticket.wholeGeneration && state.stripes[ticket.stripe] == ticket.generation
    }

    /// Invalidates part of an entry: `markStale` records in the stored value what is no longer
    /// current (for entries cheaper to patch than to reload, like a big room's member list), and
    /// the key's generation moves on, so a reader that loaded before this cannot store over it.
    func invalidatePart(_ key: Key, _ markStale: (inout Value) -> Void) {
        let stripe = Self.stripe(key)
        state.withLock { state in
            state.stripes[stripe] &+= 1
            state.any &+= 1
            if var entry = state.young[key] {
                markStale(&entry.value)
                state.young[key] = entry
            } else if var entry = state.old[key] {
                markStale(&entry.value)
                state.old[key] = entry
            }
        }
    }

    func invalidate(_ key: Key) {
        let stripe = Self.stripe(key)
        state.withLock { state in
            state.stripes[stripe] &+= 1
            state.any &+= 1
            if let entry = state.young.removeValue(forKey: key) { state.youngBytes -= entry.bytes }
            if let entry = state.old.removeValue(forKey: key) { state.oldBytes -= entry.bytes }
        }
    }

    /// Invalidates each key that `matches` (a scan: for rare, broad changes).
    func invalidate(where matches: (Key, Value) -> Bool) {
        state.withLock { state in
            state.whole &+= 1
            state.any &+= 1
            for (key, entry) in state.young where matches(key, entry.value) {
                state.young[key] = nil
                state.youngBytes -= entry.bytes
            }
            for (key, entry) in state.old where matches(key, entry.value) {
                state.old[key] = nil
                state.oldBytes -= entry.bytes
            }
        }
    }

    func removeAll() {
        state.withLock { state in
            state.whole &+= 1
            state.any &+= 1
            state.young = [:]
            state.old = [:]
            state.youngBytes = 0
            state.oldBytes = 0
        }
    }

    var statistics: CacheStatistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.bytes = state.youngBytes + state.oldBytes
            statistics.entries = state.young.count + state.old.count
            statistics.budgetBytes = budget
            return statistics
        }
    }

    private static func insertYoung(_ key: Key, _ entry: Entry, into state: inout State, budget: Int) {
        guard entry.bytes <= budget / 2 else { return }
        if state.youngBytes + entry.bytes > budget / 2 {
            state.statistics.evictions += state.old.count
            state.old = state.young
            state.oldBytes = state.youngBytes
            state.young = [:]
            state.youngBytes = 0
        }
        state.young[key] = entry
        state.youngBytes += entry.bytes
    }
}

/// What one cache did since the process started, for `/metrics`.
public struct CacheStatistics: Sendable, Equatable {
    public var name: String
    public var hits = 0
    public var misses = 0
    public var evictions = 0
    public var bytes = 0
    public var entries = 0
    public var budgetBytes = 0

    public init(name: String) {
        self.name = name
    }
}
