import AxonStorage
import MatrixModel

/// A room of a sliding-sync response, before either wire shape is applied. Nil fields are
/// left out: under `initial` they are unset, otherwise unchanged.
struct SlidingRoomResult: Sendable {
    var roomID: String
    var membership: String
    var initial = false
    var lists: [String] = []
    var bumpStamp: Int64
    /// A string, or null (v4 only) when the name was removed.
    var name: JSON?
    var avatar: JSON?
    var heroes: [JSON]?
    var isDM: Bool?
    var requiredState: [JSON] = []
    var timeline: [JSON]?
    /// The event IDs of `timeline`, for the receipts extension.
    var timelineEventIDs: [String] = []
    var prevBatch: String?
    var limited = false
    var numLive: Int?
    var expandedTimeline = false
    var joinedCount: Int?
    var invitedCount: Int?
    var notificationCount: Int?
    var highlightCount: Int?
    var strippedState: [JSON]?
}

/// Builds one room's result from what the connection already has of it (MSC4186 "Room
/// results", "Changing room configs"), and the record to keep for next time.
struct SlidingRoomBuilder {
    let storage: any Storage
    let rooms: RoomService
    let user: TokenOwner
    let shape: SlidingSyncShape
    let ignored: Set<String>
    /// The stream position the request's `pos` stands for (nil: a new connection) and now.
    let from: Int64?
    let current: Int64

    static let heroLimit = 5
    /// Member events remembered per room as lazily sent; beyond that, some are sent again.
    static let lazyMemoryLimit = 200

    struct Input {
        var entry: RoomListEntry
        var bumpStamp: Int64
        var config: RoomConfig
        var record: SlidingSyncRoomRecord?
        /// Whether the room has events in (from, current].
        var changedSinceFrom: Bool
        var isDM: Bool
        var lists: [String]
    }

    func build(_ input: Input) async throws -> (SlidingRoomResult, SlidingSyncRoomRecord)? {
        let entry = input.entry
        let record = input.record
        let configText = input.config.recordText
        var result = SlidingRoomResult(roomID: entry.roomID, membership: entry.membership, lists: input.lists, bumpStamp: input.bumpStamp)
        // Where the client has this room up to: a live room as of the request's position.
        let since: Int64? = record.map { $0.sentUpTo ?? from ?? 0 }
        let wasDM = record?.extra["dm"]?.boolValue ?? false
        let dmChanged = record != nil && wasDM != input.isDM
        func newRecord(lazy: [String: String]) -> SlidingSyncRoomRecord {
            var extra: JSONObject = ["dm": .bool(input.isDM)]
            if !lazy.isEmpty { extra["lazy"] = .object(JSONObject(lazy.mapValues(JSON.string))) }
            return SlidingSyncRoomRecord(roomID: entry.roomID, sentUpTo: nil, config: configText, extra: .object(extra))
        }

        if ["invite", "knock"].contains(entry.membership) {
            // The client only ever gets what the invite or knock carried; it is news when it is new.
            if let since, entry.membershipPosition <= since, !dmChanged { return nil }
            guard let event = try await storage.event(id: entry.membershipEventID) else { return nil }
            result.initial = true
            result.strippedState = try await rooms.strippedState(event)
            if input.isDM { result.isDM = true }
            return (result, newRecord(lazy: [:]))
        }

        let joined = entry.membership == "join"
        let upTo = joined ? current : min(current, entry.membershipPosition)
        // The common case, an unchanged config, is a text comparison; only a change is parsed.
        let configChanged = record.map { $0.config != configText } ?? false
        let oldConfig = record.flatMap { configChanged ? RoomConfig(recordText: $0.config) : input.config }
        let timelineExpanded = configChanged && input.config.timelineLimit > (oldConfig?.timelineLimit ?? 0)
        let stateExpanded = configChanged && !Set(input.config.requiredState).isSubset(of: Set(oldConfig?.requiredState ?? []))
        // A stale record means the room changed after it; for a room the user is no longer in,
        // only a newer membership is news (they cannot see what happened after it).
        let hasNews =
            record == nil || (joined ? (record?.sentUpTo != nil || input.changedSinceFrom) : entry.membershipPosition > (since ?? 0))
        guard hasNews || timelineExpanded || stateExpanded || dmChanged else { return nil }

        let leaveState: [StateKey: StoredEvent]? = joined ? nil : try await stateAtMembership(entry)
        result.initial = record == nil
        if (result.initial && input.isDM) || dmChanged { result.isDM = input.isDM }

        // Timeline: new events since `since`, or the latest ones when first sent or the limit grew.
        let timelineAfter: Int64? = (since == nil || timelineExpanded) ? nil : since
        var timeline: [StoredEvent] = []
        if hasNews || timelineExpanded {
            let page = try await timelinePage(roomID: entry.roomID, after: timelineAfter, upTo: upTo, limit: input.config.timelineLimit)
            timeline = page.events
            result.limited = page.limited
            result.prevBatch = timeline.first.map { RoomGap.before($0).token } ?? SyncToken(position: upTo).string
            result.timeline = try await rooms.aggregations.clientEvents(timeline, viewer: user, ignoring: ignored)
            result.timelineEventIDs = timeline.map(\.pdu.eventID)
            result.numLive = from.map { from in timeline.filter { $0.streamPosition > from }.count } ?? 0
            if let since, timelineExpanded, timeline.contains(where: { $0.streamPosition <= since }) { result.expandedTimeline = true }
        }

        // Required state.
        var lazySent: [String: String] = [:]
        if since != nil, !result.limited, let sent = record?.extra["lazy"]?.objectValue {
            for (user, event) in sent { if let id = event.stringValue { lazySent[user] = id } }
        }
        var state: [String: StoredEvent] = [:]  // by event ID
        var stubs: [StateKey] = []
        var nameEvent: StoredEvent?
        var avatarEvent: StoredEvent?
        var membersChanged = false
        if since == nil {
            for event in try await stateMatching(input.config, roomID: entry.roomID, leaveState: leaveState, extraKeys: Self.summaryKeys) {
                let key = Self.key(event)
                if key == Self.summaryKeys[0] { nameEvent = event }
                if key == Self.summaryKeys[1] { avatarEvent = event }
                if input.config.matches(key) { state[event.pdu.eventID] = event }
            }
            membersChanged = true
        } else {
            if let since, hasNews {
                let changes = try await storage.stateEventsByStream(roomID: entry.roomID, after: since, upTo: upTo)
                let keys = Array(Set(changes.map(Self.key)))
                let currentEntries = try await stateAt(keys: keys, roomID: entry.roomID, leaveState: leaveState)
                for key in keys {
                    let now = currentEntries[key]
                    if key.type == "m.room.member" { membersChanged = true }
                    if key == Self.summaryKeys[0] { nameEvent = now; result.name = Self.name(now) ?? (shape == .v4 ? .null : nil) }
                    if key == Self.summaryKeys[1] { avatarEvent = now; result.avatar = Self.avatar(now) ?? (shape == .v4 ? .null : nil) }
                    guard input.config.matches(key) else { continue }
                    if let now { state[now.pdu.eventID] = now } else { stubs.append(key) }
                }
            }
            if stateExpanded {
                let old = oldConfig ?? RoomConfig(timelineLimit: 0, requiredState: [])
                for event in try await stateMatching(input.config, roomID: entry.roomID, leaveState: leaveState, extraKeys: [])
                where !old.matches(Self.key(event)) {
                    state[event.pdu.eventID] = event
                }
            }
        }
        if input.config.lazyMembers {
            var needed = Set(timeline.map(\.pdu.sender))
            for event in timeline where event.pdu.type == "m.room.member" { if let target = event.pdu.stateKey { needed.insert(target) } }
            let missing = needed.filter { user in !state.values.contains { Self.key($0) == .member(user) } }
            let members = try await stateAt(keys: missing.map(StateKey.member), roomID: entry.roomID, leaveState: leaveState)
            for (key, event) in members where lazySent[key.stateKey] != event.pdu.eventID {
                state[event.pdu.eventID] = event
            }
        }
        for event in state.values where event.pdu.type == "m.room.member" {
            if let member = event.pdu.stateKey { lazySent[member] = event.pdu.eventID }
        }
        if lazySent.count > Self.lazyMemoryLimit {
            lazySent = Dictionary(uniqueKeysWithValues: lazySent.sorted { $0.key < $1.key }.prefix(Self.lazyMemoryLimit).map { ($0.key, $0.value) })
        }
        result.requiredState = state.values.sorted { $0.streamPosition < $1.streamPosition }
            .map { ClientEventFormat.json($0, viewer: user, version: nil) }
        if shape == .v4 { result.requiredState += stubs.map { ["type": .string($0.type), "state_key": .string($0.stateKey)] } }

        // Name, avatar and heroes.
        if since == nil {
            result.name = Self.name(nameEvent)
            result.avatar = Self.avatar(avatarEvent)
        }
        if membersChanged || result.name != nil {
            let named = since == nil ? nameEvent : try await stateAt(keys: [Self.summaryKeys[0]], roomID: entry.roomID, leaveState: leaveState).first?.value
            if Self.name(named) == nil {
                result.heroes = try await heroes(roomID: entry.roomID)
            }
            let counts = try await storage.memberCounts(roomID: entry.roomID)
            result.joinedCount = counts.joined
            result.invitedCount = counts.invited
        }
        if shape == .unstable, joined {
            let counts = try await storage.notificationCounts(userID: user.userID, roomID: entry.roomID)
            result.notificationCount = counts.reduce(0) { $0 + $1.notifications }
            result.highlightCount = counts.reduce(0) { $0 + $1.highlights }
        }
        return (result, newRecord(lazy: lazySent))
    }

    static let summaryKeys = [StateKey("m.room.name", ""), StateKey("m.room.avatar", "")]

    static func key(_ event: StoredEvent) -> StateKey { StateKey(event.pdu.type, event.pdu.stateKey ?? "") }

    static func name(_ event: StoredEvent?) -> JSON? {
        guard let name = event?.pdu.content["name"]?.stringValue, !name.isEmpty else { return nil }
        return .string(name)
    }

    static func avatar(_ event: StoredEvent?) -> JSON? {
        guard let url = event?.pdu.content["url"]?.stringValue, !url.isEmpty else { return nil }
        return .string(url)
    }

    /// The newest events in (after, upTo] the user may see, oldest first. Reads one more than
    /// the limit (to know whether there are more), and further back only while events the user
    /// may not see took places: a `timeline_limit` of 1 must not read and parse twenty events.
    private func timelinePage(roomID: String, after: Int64?, upTo: Int64, limit: Int) async throws -> (events: [StoredEvent], limited: Bool) {
        var visible: [StoredEvent] = []
        var end = upTo
        for _ in 0..<3 {
            let want = limit + 1 - visible.count
            let fetched = try await storage.roomEventsByStream(roomID: roomID, after: after ?? -1, upTo: end, limit: want)
            visible += try await rooms.visibility.filter(fetched, roomID: roomID, userID: user.userID, ignoring: ignored)
            guard fetched.count == want, visible.count <= limit, let oldest = fetched.last else {
                return (Array(visible.prefix(limit).reversed()), visible.count > limit)
            }
            end = oldest.streamPosition - 1
        }
        // Still short after three pages: say there is more rather than read on.
        return (Array(visible.prefix(limit).reversed()), true)
    }

    /// The state of a room the user is no longer in, as of their membership change.
    private func stateAtMembership(_ entry: RoomListEntry) async throws -> [StateKey: StoredEvent] {
        guard let event = try await storage.event(id: entry.membershipEventID) else { return [:] }
        var state: [StateKey: StoredEvent] = [:]
        for stored in try await storage.stateEvents(group: event.stateGroup) { state[Self.key(stored)] = stored }
        return state
    }

    /// Current state (or the state at leave) that `config` asks for, plus `extraKeys`.
    private func stateMatching(
        _ config: RoomConfig, roomID: String, leaveState: [StateKey: StoredEvent]?, extraKeys: [StateKey]
    ) async throws -> [StoredEvent] {
        if let leaveState {
            return leaveState.filter { config.matches($0.key) || extraKeys.contains($0.key) }.map(\.value)
        }
        let plan = config.fetchPlan
        if plan.all { return try await storage.currentStateEvents(roomID: roomID) }
        return try await storage.currentStateEvents(roomID: roomID, types: plan.types, keys: plan.keys + extraKeys)
    }

    private func stateAt(keys: [StateKey], roomID: String, leaveState: [StateKey: StoredEvent]?) async throws -> [StateKey: StoredEvent] {
        guard !keys.isEmpty else { return [:] }
        if let leaveState { return leaveState.filter { keys.contains($0.key) } }
        var found: [StateKey: StoredEvent] = [:]
        for event in try await storage.currentStateEvents(roomID: roomID, types: [], keys: keys) { found[Self.key(event)] = event }
        return found
    }

    private func heroes(roomID: String) async throws -> [JSON] {
        let members = try await storage.heroes(roomID: roomID, excluding: user.userID, limit: Self.heroLimit)
        let events = Dictionary(
            try await storage.events(ids: members.map(\.eventID)).map { ($0.pdu.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        return members.map { member in
            var hero: JSONObject = ["user_id": .string(member.userID)]
            let content = events[member.eventID]?.pdu.content
            if let name = content?["displayname"]?.stringValue { hero["displayname"] = .string(name) }
            if let avatar = content?["avatar_url"]?.stringValue { hero["avatar_url"] = .string(avatar) }
            return .object(hero)
        }
    }
}
