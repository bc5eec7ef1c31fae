import AxonStorage
import MatrixModel

/// The extensions of a sliding-sync response: to-device messages, end-to-end encryption
/// key state, account data, receipts and typing. Each honours `enabled`, and the room ones
/// their `lists` and `rooms` scope.
struct SlidingSyncExtensions {
    let storage: any Storage
    let user: TokenOwner
    let from: Int64?
    let current: Int64

    /// What the room extensions may cover: the rooms of each list's windows, the
    /// subscriptions, and which rooms this response sends whole for the first time.
    struct Rooms {
        var byList: [String: [String]]
        var subscriptions: [String]
        var initial: Set<String>
        var timelines: [String: [String]]

        func scoped(_ scope: ExtensionScope) -> [String] {
            var rooms: [String] = []
            let lists = scope.lists ?? ["*"]
            for (name, ids) in byList.sorted(by: { $0.key < $1.key }) where lists.contains("*") || lists.contains(name) { rooms += ids }
            let named = scope.rooms ?? ["*"]
            if named.contains("*") { rooms += subscriptions }
            let known = Set(byList.values.joined()).union(subscriptions)
            rooms += named.filter { $0 != "*" && known.contains($0) }
            var seen = Set<String>()
            return rooms.filter { seen.insert($0).inserted }
        }
    }

    /// The `extensions` body and whether any of it is news for a waiting request.
    func build(_ request: SlidingExtensionsRequest, rooms: Rooms) async throws -> (body: JSONObject, hasNews: Bool) {
        var body = JSONObject()
        var news = false
        if request.toDevice || request.e2ee {
            let keys = try await storage.syncKeyState(
                userID: user.userID, deviceID: user.deviceID, acknowledged: request.toDevice ? request.toDeviceSince : nil, since: from,
                upTo: current, toDeviceLimit: request.toDevice ? request.toDeviceLimit : 0)
            if request.toDevice {
                let full = keys.toDevice.count == request.toDeviceLimit
                let next = full ? (keys.toDevice.last?.streamPosition ?? current) : current
                body["to_device"] = [
                    "next_batch": .string(String(next)),
                    "events": .array(keys.toDevice.map { ["sender": .string($0.sender), "type": .string($0.type), "content": $0.content] }),
                ]
                news = news || !keys.toDevice.isEmpty
            }
            if request.e2ee {
                var e2ee: JSONObject = [
                    "device_one_time_keys_count": .object(JSONObject(keys.oneTimeKeyCounts.mapValues { JSON.int(Int64($0)) })),
                    "device_unused_fallback_key_types": .array(keys.unusedFallbackKeyTypes.map(JSON.string)),
                ]
                if from != nil {
                    let (changed, left) = try await DeviceLists(storage: storage).resolve(
                        viewer: user.userID, memberships: keys.membershipChanges, changed: keys.deviceListChanges)
                    e2ee["device_lists"] = ["changed": .array(changed.sorted().map(JSON.string)), "left": .array(left.sorted().map(JSON.string))]
                    news = news || !changed.isEmpty || !left.isEmpty
                }
                body["e2ee"] = .object(e2ee)
            }
        }
        if request.accountData.enabled {
            let (data, hasData) = try await accountData(rooms.scoped(request.accountData), initial: rooms.initial)
            body["account_data"] = .object(data)
            news = news || hasData
        }
        if request.receipts.enabled {
            let receipts = try await receipts(rooms.scoped(request.receipts), rooms: rooms)
            body["receipts"] = ["rooms": .object(receipts)]
            news = news || !receipts.isEmpty
        }
        if request.typing.enabled {
            let typing = try await typing(rooms.scoped(request.typing), initial: rooms.initial)
            body["typing"] = ["rooms": .object(typing)]
            news = news || !typing.isEmpty
        }
        return (body, news)
    }

    private func accountData(_ scoped: [String], initial: Set<String>) async throws -> (JSONObject, Bool) {
        // A room first sent now gets all its account data; others what changed since `from`.
        let whole = from == nil ? scoped : scoped.filter(initial.contains)
        var entries = try await storage.accountData(userID: user.userID, roomIDs: whole, includingGlobal: from == nil)
        if let from {
            let inScope = Set(scoped)
            entries += try await storage.accountDataChanges(userID: user.userID, since: from).filter { entry in
                entry.streamPosition <= current && (entry.roomID.map { inScope.contains($0) && !initial.contains($0) } ?? true)
            }
        }
        var global: [JSON] = []
        var byRoom = JSONObject()
        for entry in entries {
            let event: JSON = ["type": .string(entry.type), "content": entry.content]
            if let roomID = entry.roomID {
                byRoom[roomID] = .array((byRoom[roomID]?.arrayValue ?? []) + [event])
            } else {
                global.append(event)
            }
        }
        // Default push rules are not stored, yet clients expect them when they start.
        if from == nil, !entries.contains(where: { $0.roomID == nil && $0.type == "m.push_rules" }) {
            global.append(["type": "m.push_rules", "content": .object(PushRuleSet(userID: user.userID, document: nil).json)])
        }
        let hasNews = from != nil && (!global.isEmpty || !byRoom.isEmpty)
        return (["global": .array(global), "rooms": .object(byRoom)], hasNews)
    }

    private func receipts(_ scoped: [String], rooms: Rooms) async throws -> JSONObject {
        var byRoom: [String: [Receipt]] = [:]
        for roomID in scoped where from == nil || rooms.initial.contains(roomID) {
            // A room sent whole: receipts on the events it shows, and the user's own.
            let shown = Set(rooms.timelines[roomID] ?? [])
            byRoom[roomID] = try await storage.receipts(roomID: roomID, after: nil, upTo: current)
                .filter { shown.contains($0.eventID) || $0.userID == user.userID }
        }
        if let from {
            let inScope = Set(scoped).subtracting(rooms.initial)
            for receipt in try await storage.receiptChanges(userID: user.userID, after: from, upTo: current) where inScope.contains(receipt.roomID) {
                byRoom[receipt.roomID, default: []].append(receipt)
            }
        }
        var body = JSONObject()
        for (roomID, receipts) in byRoom {
            if let event = SyncService.receiptEvent(receipts, roomID: roomID, viewer: user.userID) { body[roomID] = event }
        }
        return body
    }

    private func typing(_ scoped: [String], initial: Set<String>) async throws -> JSONObject {
        var changed = Set<String>()
        if let from { changed = try await storage.typingChanges(userID: user.userID, after: from, upTo: current) }
        var body = JSONObject()
        let now = nowMillis()
        for roomID in scoped where from == nil || initial.contains(roomID) || changed.contains(roomID) {
            let typers = try await storage.typingUsers(roomID: roomID, now: now)
            // A change to nobody typing must reach the client too, so it clears the indicator.
            guard !typers.isEmpty || changed.contains(roomID) else { continue }
            body[roomID] = ["type": "m.typing", "content": ["user_ids": .array(typers.map(JSON.string))]]
        }
        return body
    }
}
