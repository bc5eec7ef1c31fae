import AxonStorage
import MatrixModel

/// `/sync` (DESIGN.md "Sync and the notifier"): everything the user may see between the
/// `since` position and now. An incremental sync reads only what changed in that range; a
/// request that finds nothing waits on the notifier until something relevant is written.
struct SyncService: Sendable {
    let storage: any Storage
    let rooms: RoomService
    let notifier: Notifier
    let presence: PresenceService
    static let defaultTimelineLimit = 10
    /// How many more events a timeline reads when some of the first ones are hidden.
    static let hiddenEventsLookahead = 20

    /// To-device messages per response; the rest wait for the next sync.
    static let toDeviceLimit = 100

    struct Request {
        var user: TokenOwner
        var since: Int64?
        var toDeviceAcknowledged: Int64?
        var filter: SyncFilter
        var fullState: Bool
        var timeout: Duration
    }

    func sync(_ request: Request) async throws -> JSON {
        let clock = ContinuousClock()
        let deadline = clock.now + request.timeout
        let userID = request.user.userID
        let deviceID = request.user.deviceID
        while true {
            let current = try await storage.currentStreamPosition()
            let keys = try await storage.syncKeyState(
                userID: userID, deviceID: deviceID, acknowledged: request.toDeviceAcknowledged, since: request.since, upTo: current,
                toDeviceLimit: Self.toDeviceLimit)
            var response = try await build(request, upTo: current, keys: keys)
            if !keys.toDevice.isEmpty {
                response["to_device"] = [
                    "events": .array(keys.toDevice.map { ["sender": .string($0.sender), "type": .string($0.type), "content": $0.content] })
                ]
            }
            if request.since == nil || request.fullState || !response.isEmpty || clock.now >= deadline {
                var body = response
                // A full batch may have left messages behind: the token remembers how far it got.
                let partial = keys.toDevice.count == Self.toDeviceLimit ? keys.toDevice.last?.streamPosition : nil
                body["next_batch"] = .string(SyncToken(position: current, toDevice: partial).string)
                // Key counts are always present, so they must not count as news for the long-poll.
                body["device_one_time_keys_count"] = .object(JSONObject(keys.oneTimeKeyCounts.mapValues { JSON.int(Int64($0)) }))
                body["device_unused_fallback_key_types"] = .array(keys.unusedFallbackKeyTypes.map(JSON.string))
                return .object(body)
            }
            let watched = Set(
                try await storage.memberships(userID: request.user.userID)
                    .filter { ["join", "invite", "knock"].contains($0.membership) && request.filter.allowsRoom($0.roomID) }
                    .map(\.roomID))
            await notifier.wait(userID: request.user.userID, rooms: watched, since: current, timeout: deadline - clock.now)
            if Task.isCancelled { throw CancellationError() }
        }
    }

    /// The response body without `next_batch`.
    private func build(_ request: Request, upTo current: Int64, keys: SyncKeyState) async throws -> JSONObject {
        let userID = request.user.userID
        let since = request.since
        let filter = request.filter
        var changed: [String: Int64] = [:]
        var receiptsByRoom: [String: [Receipt]] = [:]
        var typingRooms = Set<String>()
        let accountData: [AccountDataEntry]
        let ignored: Set<String>
        var presenceChanges: [PresenceRecord]?
        if let since {
            let changes = try await storage.syncChanges(userID: userID, after: since, upTo: current, presence: presence.enabled)
            presenceChanges = changes.presence
            typingRooms = changes.typingRooms
            changed = changes.changedRooms
            for receipt in changes.receipts { receiptsByRoom[receipt.roomID, default: []].append(receipt) }
            accountData = changes.accountData
            ignored = HistoryVisibility.ignoredUsers(in: changes.ignoredUserList)
        } else {
            accountData = try await storage.accountDataChanges(userID: userID, since: nil)
            ignored = try await rooms.visibility.ignoredUsers(userID)
        }
        var roomAccountData: [String: [AccountDataEntry]] = [:]
        var globalAccountData: [JSON] = []
        for entry in accountData where entry.streamPosition <= current {
            if let roomID = entry.roomID {
                roomAccountData[roomID, default: []].append(entry)
            } else if filter.accountData.allows(PDU(eventID: "", json: ["type": .string(entry.type)])) {
                globalAccountData.append(["type": .string(entry.type), "content": entry.content])
            }
        }
        // Default push rules are not stored, yet clients expect them in their first sync.
        if since == nil, !globalAccountData.contains(where: { $0["type"] == "m.push_rules" }),
            filter.accountData.allows(PDU(eventID: "", json: ["type": "m.push_rules"]))
        {
            globalAccountData.append(["type": "m.push_rules", "content": .object(PushRuleSet(userID: userID, document: nil).json)])
        }

        // Initial syncs look at every room; incremental ones only at rooms where something changed.
        let memberships: [Membership]
        if let since, !request.fullState {
            let touched = Set(changed.keys).union(receiptsByRoom.keys).union(roomAccountData.keys).union(typingRooms)
            memberships = try await storage.memberships(userID: userID, changedAfter: since, orIn: touched)
        } else {
            memberships = try await storage.memberships(userID: userID)
        }
        // A sync that shows every joined room in full reads their timelines, receipts, typing
        // and unread counts for all of them together, not room by room.
        var batch: RoomSyncBatch?
        if since == nil || request.fullState {
            let shown = memberships.filter { $0.membership == "join" && !$0.forgotten && filter.allowsRoom($0.roomID) }.map(\.roomID)
            batch = try await storage.roomSyncBatch(
                userID: userID, roomIDs: shown, upTo: current, timelineLimit: (filter.timeline.limit ?? Self.defaultTimelineLimit) + 1,
                now: nowMillis(), unreadCounts: true)
        }
        var join = JSONObject()
        var newlyJoined: [String] = []
        var invite = JSONObject()
        var leave = JSONObject()
        var knock = JSONObject()
        for membership in memberships where !membership.forgotten && filter.allowsRoom(membership.roomID) {
            let roomID = membership.roomID
            var isNew = since.map { membership.streamPosition > $0 } ?? true
            if isNew, let since, membership.membership == "join", try await rooms.wasJoined(roomID: roomID, userID: userID, at: since) {
                // A new join event of someone already joined (a profile change) is no new room.
                isNew = false
            }
            switch membership.membership {
            case "join":
                let hasChanges = changed[roomID] != nil || receiptsByRoom[roomID] != nil || roomAccountData[roomID] != nil
                    || typingRooms.contains(roomID)
                guard since == nil || isNew || hasChanges || request.fullState else { continue }
                // The room had no events after its newest changed one (or after `since`, if none).
                let quietAfter = since.map { changed[roomID] ?? $0 }
                let room = try await joinedRoom(
                    roomID: roomID, request: request, after: (isNew || request.fullState) ? nil : since, upTo: current, quietAfter: quietAfter,
                    receipts: receiptsByRoom[roomID], accountData: roomAccountData[roomID], typingChanged: typingRooms.contains(roomID),
                    ignored: ignored, batch: batch)
                // Changes the user may not see (an ignored user's messages) leave no empty entry.
                if since != nil, !isNew, !request.fullState, Self.showsNothing(room) { continue }
                join[roomID] = room
                if isNew { newlyJoined.append(roomID) }
            case "invite", "knock":
                guard isNew || request.fullState, let event = try await storage.event(id: membership.eventID),
                    !ignored.contains(event.pdu.sender)
                else { continue }
                let key = membership.membership == "invite" ? "invite_state" : "knock_state"
                let stripped = try await rooms.strippedState(event)
                let entry: JSON = [.init(stringLiteral: key): ["events": .array(stripped)]]
                if membership.membership == "invite" { invite[roomID] = entry } else { knock[roomID] = entry }
            default:
                let wanted = since == nil ? filter.includeLeave : (isNew || (request.fullState && filter.includeLeave))
                guard wanted, let leaveEvent = try await storage.event(id: membership.eventID) else { continue }
                leave[roomID] = try await leftRoom(
                    roomID: roomID, request: request, after: isNew ? since : nil, leaveEvent: leaveEvent,
                    accountData: roomAccountData[roomID], ignored: ignored)
            }
        }
        var body = JSONObject()
        var roomsBody = JSONObject()
        if !join.isEmpty { roomsBody["join"] = .object(join) }
        if !invite.isEmpty { roomsBody["invite"] = .object(invite) }
        if !leave.isEmpty { roomsBody["leave"] = .object(leave) }
        if !knock.isEmpty { roomsBody["knock"] = .object(knock) }
        if !roomsBody.isEmpty { body["rooms"] = .object(roomsBody) }
        if !globalAccountData.isEmpty { body["account_data"] = ["events": .array(globalAccountData)] }
        if let since {
            let (changed, left) = try await DeviceLists(storage: storage).resolve(
                viewer: userID, memberships: keys.membershipChanges, changed: keys.deviceListChanges)
            if !changed.isEmpty || !left.isEmpty {
                body["device_lists"] = ["changed": .array(changed.sorted().map(JSON.string)), "left": .array(left.sorted().map(JSON.string))]
            }
        }
        if presence.enabled {
            var changes: [PresenceRecord]
            if let presenceChanges { changes = presenceChanges } else { changes = try await storage.presenceChanges(userID: userID, after: since, upTo: current) }
            // A newly joined room's members are new to the client: their presence comes along,
            // however long ago it last changed.
            if since != nil, !newlyJoined.isEmpty {
                var members = Set<String>()
                for roomID in newlyJoined { members.formUnion(try await storage.members(roomID: roomID, membership: "join").map(\.userID)) }
                let known = Set(changes.map(\.userID))
                changes += try await storage.presenceChanges(userID: userID, after: nil, upTo: current)
                    .filter { members.contains($0.userID) && !known.contains($0.userID) }
            }
            changes = changes.filter { filter.presence.allows(PDU(eventID: "", json: ["type": "m.presence", "sender": .string($0.userID)])) }
            if !changes.isEmpty { body["presence"] = ["events": .array(changes.map(presence.event))] }
        }
        return body
    }

    private func joinedRoom(
        roomID: String, request: Request, after: Int64?, upTo: Int64, quietAfter: Int64?, receipts: [Receipt]?,
        accountData: [AccountDataEntry]?, typingChanged: Bool, ignored: Set<String>, batch: RoomSyncBatch?
    ) async throws -> JSON {
        // The batch holds what a full room entry (no `after`) reads.
        let batch = after == nil ? batch : nil
        let timeline = try await timeline(
            roomID: roomID, request: request, after: after, upTo: upTo, quietAfter: quietAfter, ignored: ignored,
            firstRead: batch?.timelines[roomID])
        var state: [StoredEvent]
        if after == nil || timeline.limited {
            // Lazy loading drops every other member from full state: they are not loaded.
            let members = request.filter.state.lazyLoadMembers ? Self.lazyMembersNeeded(timeline.events, viewer: request.user.userID) : nil
            state = try await stateAtTimelineStart(roomID: roomID, timeline: timeline.events, upTo: upTo, changedAfter: after, members: members)
        } else {
            state = []
        }
        if request.filter.state.lazyLoadMembers {
            state = try await lazyMembers(state, timeline: timeline.events, roomID: roomID, request: request, delta: after != nil)
        }
        state = state.filter { request.filter.state.allows($0.pdu) }
        if request.filter.state.lazyLoadMembers {
            let sent = (state + timeline.events).filter { $0.pdu.type == "m.room.member" }
            try await storage.recordLazyMembersSent(
                userID: request.user.userID, deviceID: request.user.deviceID, roomID: roomID,
                sent: Dictionary(sent.map { ($0.pdu.stateKey ?? "", $0.pdu.eventID) }, uniquingKeysWith: { _, newer in newer }),
                resetting: after == nil)
        }
        var room: JSONObject = [
            "timeline": try await timelineJSON(timeline, request: request),
            "state": ["events": .array(state.map { format($0, request) })],
        ]
        var ephemeral: [JSON] = []
        let currentReceipts: [Receipt]
        if after == nil {
            if let batched = batch?.receipts[roomID] { currentReceipts = batched } else { currentReceipts = try await storage.receipts(roomID: roomID, after: nil, upTo: upTo) }
        } else {
            currentReceipts = receipts ?? []
        }
        if let receiptEvent = Self.receiptEvent(currentReceipts, roomID: roomID, viewer: request.user.userID),
            request.filter.ephemeral.allows(PDU(eventID: "", json: ["type": "m.receipt"]))
        {
            ephemeral.append(receiptEvent)
        }
        if after == nil || typingChanged, request.filter.ephemeral.allows(PDU(eventID: "", json: ["type": "m.typing"])) {
            let typers: [String]
            if let batched = batch?.typing[roomID] { typers = batched } else { typers = try await storage.typingUsers(roomID: roomID, now: nowMillis()) }
            // A change to nobody typing must reach clients too, so they clear the indicator.
            if typingChanged || !typers.isEmpty {
                // /sync ephemeral events carry no room_id: the room is the key they sit under.
                ephemeral.append(["type": "m.typing", "content": ["user_ids": .array(typers.map(JSON.string))]])
            }
        }
        if !ephemeral.isEmpty { room["ephemeral"] = ["events": .array(ephemeral)] }
        let roomData = (accountData ?? []).filter { request.filter.roomAccountData.allows(PDU(eventID: "", json: ["type": .string($0.type)])) }
        if !roomData.isEmpty {
            room["account_data"] = ["events": .array(roomData.map { ["type": .string($0.type), "content": $0.content] })]
        }
        if after == nil || timeline.events.contains(where: { $0.pdu.type == "m.room.member" }) {
            room["summary"] = try await summary(roomID: roomID, userID: request.user.userID)
        }
        try await addUnreadCounts(to: &room, roomID: roomID, request: request, batched: batch?.notificationCounts[roomID])
        return .object(room)
    }

    /// A joined room entry with no events of any kind for the client.
    static func showsNothing(_ room: JSON) -> Bool {
        (room["timeline"]?["events"]?.arrayValue?.isEmpty ?? true) && (room["state"]?["events"]?.arrayValue?.isEmpty ?? true)
            && room["ephemeral"] == nil && room["account_data"] == nil
    }

    /// `unread_notifications`, split per thread when the filter asks for
    /// `unread_thread_notifications` (the main timeline then counts alone).
    private func addUnreadCounts(to room: inout JSONObject, roomID: String, request: Request, batched: [NotificationCount]?) async throws {
        let counts: [NotificationCount]
        if let batched { counts = batched } else { counts = try await storage.notificationCounts(userID: request.user.userID, roomID: roomID) }
        func json(_ counts: [NotificationCount]) -> JSON {
            [
                "notification_count": .int(Int64(counts.reduce(0) { $0 + $1.notifications })),
                "highlight_count": .int(Int64(counts.reduce(0) { $0 + $1.highlights })),
            ]
        }
        guard request.filter.timeline.unreadThreadNotifications else {
            room["unread_notifications"] = json(counts)
            return
        }
        room["unread_notifications"] = json(counts.filter { $0.threadID == "main" })
        var threads = JSONObject()
        for count in counts where count.threadID != "main" { threads[count.threadID] = json([count]) }
        if !threads.isEmpty { room["unread_thread_notifications"] = .object(threads) }
    }

    private func leftRoom(
        roomID: String, request: Request, after: Int64?, leaveEvent: StoredEvent, accountData: [AccountDataEntry]?,
        ignored: Set<String>
    ) async throws -> JSON {
        guard try await rooms.wasJoined(before: leaveEvent) else {
            // Never joined: the user sees their own rejection, withdrawal or ban, nothing more.
            let timeline = Timeline(events: [leaveEvent], limited: false, prevBatch: RoomGap.before(leaveEvent).token)
            return ["timeline": try await timelineJSON(timeline, request: request), "state": ["events": []]]
        }
        let timeline = try await timeline(
            roomID: roomID, request: request, after: after, upTo: leaveEvent.streamPosition, ignored: ignored)
        // Joined and left since the last sync: the client never had this room's state, so it
        // gets all of it as of the timeline's start, not only what changed.
        var knewState = after != nil
        if let after { knewState = try await rooms.wasJoined(roomID: roomID, userID: request.user.userID, at: after) }
        let stateSince = knewState ? after : nil
        let state = stateSince == nil || timeline.limited
            ? try await stateAtTimelineStart(roomID: roomID, timeline: timeline.events, upTo: leaveEvent.streamPosition, changedAfter: stateSince)
            : []
        var room: JSONObject = [
            "timeline": try await timelineJSON(timeline, request: request),
            "state": ["events": .array(state.filter { request.filter.state.allows($0.pdu) }.map { format($0, request) })],
        ]
        if let accountData, !accountData.isEmpty {
            room["account_data"] = ["events": .array(accountData.map { ["type": .string($0.type), "content": $0.content] })]
        }
        return .object(room)
    }

    struct Timeline {
        var events: [StoredEvent]
        var limited: Bool
        var prevBatch: String
    }

    /// The newest events in (after, upTo] the user may see and the filter allows, oldest first.
    /// `quietAfter`: a position after which the room has no events up to `upTo`, when known.
    /// `firstRead`: the first read's result (limit + 1 events from `after` nil), already batched.
    private func timeline(
        roomID: String, request: Request, after: Int64?, upTo: Int64, quietAfter: Int64? = nil, ignored: Set<String>,
        firstRead: [StoredEvent]? = nil
    ) async throws -> Timeline {
        let limit = request.filter.timeline.limit ?? Self.defaultTimelineLimit
        var batched = after == nil ? firstRead : nil
        func visibleEvents(_ fetchLimit: Int) async throws -> (fetched: Int, visible: [StoredEvent]) {
            let fetched: [StoredEvent]
            if let read = batched, fetchLimit == limit + 1 {
                fetched = read
                batched = nil
            } else {
                fetched = try await storage.roomEventsByStream(
                    roomID: roomID, after: after ?? -1, upTo: upTo, limit: fetchLimit, latest: quietAfter)
            }
            let visible = try await rooms.visibility.filter(fetched, roomID: roomID, userID: request.user.userID, ignoring: ignored)
                .filter { request.filter.timeline.allows($0.pdu) }
            return (fetched.count, visible)
        }
        // One more than the limit tells whether there is more; only when the filter or
        // history visibility hid some of those does the read reach further back.
        var fetchLimit = limit + 1
        var (fetchedCount, visible) = try await visibleEvents(fetchLimit)
        if visible.count <= limit, fetchedCount == fetchLimit {
            fetchLimit = limit + 1 + Self.hiddenEventsLookahead
            (fetchedCount, visible) = try await visibleEvents(fetchLimit)
        }
        let chosen = Array(visible.prefix(limit).reversed())
        let limited = visible.count > limit || fetchedCount == fetchLimit
        let prevBatch = chosen.first.map { RoomGap.before($0).token }
            ?? SyncToken(position: upTo).string
        return Timeline(events: chosen, limited: limited, prevBatch: prevBatch)
    }

    private func timelineJSON(_ timeline: Timeline, request: Request) async throws -> JSON {
        let events = try await rooms.aggregations.clientEvents(timeline.events, viewer: request.user)
        return [
            "events": .array(zip(events, timeline.events).map { request.filter.format($0, pdu: $1.pdu) }),
            "limited": .bool(timeline.limited),
            "prev_batch": .string(timeline.prevBatch),
        ]
    }

    /// The state just before the first timeline event (or at `upTo` when the timeline is
    /// empty). With `changedAfter`, only entries that changed after that position.
    /// With `members`, full state keeps only those members' events (changes keep all).
    private func stateAtTimelineStart(
        roomID: String, timeline: [StoredEvent], upTo: Int64, changedAfter: Int64?, members: Set<String>? = nil
    ) async throws -> [StoredEvent] {
        let boundary = timeline.first.map { $0.streamPosition - 1 } ?? upTo
        guard let before = try await storage.latestEvent(roomID: roomID, atOrBefore: boundary) else { return [] }
        if let changedAfter {
            let state = try await storage.state(group: before.stateGroup)
            let changes = try await storage.stateEventsByStream(roomID: roomID, after: changedAfter, upTo: boundary)
            return changes.filter { state[StateKey($0.pdu.type, $0.pdu.stateKey ?? "")]?.eventID == $0.pdu.eventID }
        }
        let state: [StoredEvent]
        if let members {
            state = try await storage.stateEvents(group: before.stateGroup) { $0.type != "m.room.member" || members.contains($0.stateKey) }
        } else {
            state = try await storage.stateEvents(group: before.stateGroup)
        }
        return state.sorted { $0.streamPosition < $1.streamPosition }
    }

    /// The members a lazy-loading client is sent: the timeline's senders and the viewer.
    static func lazyMembersNeeded(_ timeline: [StoredEvent], viewer: String) -> Set<String> {
        Set(timeline.map(\.pdu.sender) + [viewer])
    }

    /// Lazy loading (spec "Lazy-loading room members"): member events only for the timeline's
    /// senders and the user, leaving out those this device was already sent unless the
    /// filter asks for redundant members. In a `delta` (an incremental sync with a gap),
    /// every membership change of the gap stays: the client could not learn it otherwise.
    private func lazyMembers(_ state: [StoredEvent], timeline: [StoredEvent], roomID: String, request: Request, delta: Bool) async throws -> [StoredEvent] {
        let userID = request.user.userID
        let needed = Self.lazyMembersNeeded(timeline, viewer: userID)
        var kept = state.filter { $0.pdu.type != "m.room.member" || delta || needed.contains($0.pdu.stateKey ?? "") }
        let present = Set(kept.compactMap { $0.pdu.type == "m.room.member" ? $0.pdu.stateKey : nil })
            .union(timeline.compactMap { $0.pdu.type == "m.room.member" ? $0.pdu.stateKey : nil })
        let missing = needed.subtracting(present).sorted()
        guard !missing.isEmpty else { return kept }
        let boundary = timeline.first.map { $0.streamPosition - 1 } ?? Int64.max
        guard let before = try await storage.latestEvent(roomID: roomID, atOrBefore: boundary) else { return kept }
        // Before an initial sync the device's record is reset, so only deltas can skip.
        let alreadySent = delta && !request.filter.state.includeRedundantMembers
            ? try await storage.lazyMembersSent(userID: userID, deviceID: request.user.deviceID, roomID: roomID, members: missing) : [:]
        for sender in missing {
            guard let member = try await storage.stateEvent(group: before.stateGroup, key: .member(sender)),
                alreadySent[sender] != member.eventID, let stored = try await storage.event(id: member.eventID)
            else { continue }
            kept.append(stored)
        }
        return kept
    }

    /// Counts and heroes come from the storage's member list, kept with its counts: a room of
    /// thousands is not loaded and sorted for every sync that shows it.
    private func summary(roomID: String, userID: String) async throws -> JSON {
        let counts = try await storage.memberCounts(roomID: roomID)
        var summary: JSONObject = [
            "m.joined_member_count": .int(Int64(counts.joined)),
            "m.invited_member_count": .int(Int64(counts.invited)),
        ]
        // Spec "room summary": heroes name a room that has neither a name nor a canonical alias.
        let name = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.name", ""))?.content["name"]?.stringValue
        let alias = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.canonical_alias", ""))?.content["alias"]?.stringValue
        if (name ?? "").isEmpty && (alias ?? "").isEmpty {
            summary["m.heroes"] = .array(try await storage.heroes(roomID: roomID, excluding: userID, limit: 5).map { .string($0.userID) })
        }
        return .object(summary)
    }

    /// One `m.receipt` event for the room; private receipts only for their owner.
    static func receiptEvent(_ receipts: [Receipt], roomID: String, viewer: String) -> JSON? {
        var content = JSONObject()
        for receipt in receipts where receipt.type != "m.read.private" || receipt.userID == viewer {
            var byType = content[receipt.eventID]?.objectValue ?? [:]
            var byUser = byType[receipt.type]?.objectValue ?? [:]
            var data: JSONObject = ["ts": .int(receipt.timestamp)]
            if let thread = receipt.threadID { data["thread_id"] = .string(thread) }
            byUser[receipt.userID] = .object(data)
            byType[receipt.type] = .object(byUser)
            content[receipt.eventID] = .object(byType)
        }
        guard !content.isEmpty else { return nil }
        return ["type": "m.receipt", "content": .object(content)]
    }

    private func format(_ event: StoredEvent, _ request: Request) -> JSON {
        request.filter.format(ClientEventFormat.json(event, viewer: request.user, version: nil), pdu: event.pdu)
    }
}
