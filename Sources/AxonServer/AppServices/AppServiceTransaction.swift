import AxonStorage
import MatrixModel

/// What one transaction over a stream range (after, upTo] carries for a service: the events
/// it is interested in; with `receive_ephemeral` (MSC2409), receipts and typing in its rooms
/// and presence of its users and of those sharing its rooms; for its users' devices
/// (MSC2409 `to_device`, MSC3202 for encrypted bridges), their to-device messages, device
/// list changes of users sharing its rooms, and one-time-key counts and unused fallback key
/// types of the devices the transaction concerns.
struct AppServiceTransaction {
    struct Device: Hashable {
        var userID: String
        var deviceID: String
    }

    var events: [JSON] = []
    var ephemeral: [JSON] = []
    var toDevice: [JSON] = []
    var changedDeviceLists: [String] = []
    var oneTimeKeyCounts = JSONObject()
    var fallbackKeyTypes = JSONObject()
    /// Devices whose to-device messages it carries: dropped once it is delivered.
    var toDeviceRecipients = Set<Device>()

    var isEmpty: Bool { events.isEmpty && ephemeral.isEmpty && toDevice.isEmpty && changedDeviceLists.isEmpty }

    func body(for service: AppServiceRegistration) -> JSON {
        var body: JSONObject = ["events": .array(events)]
        if service.receiveEphemeral {
            body["ephemeral"] = .array(ephemeral)
            body["de.sorunome.msc2409.ephemeral"] = .array(ephemeral)
        }
        if service.receiveEphemeral || service.msc3202 {
            body["to_device"] = .array(toDevice)
            body["de.sorunome.msc2409.to_device"] = .array(toDevice)
        }
        if service.msc3202 {
            let lists: JSON = ["changed": .array(changedDeviceLists.map(JSON.string)), "left": []]
            body["device_lists"] = lists
            body["org.matrix.msc3202.device_lists"] = lists
            body["device_one_time_keys_count"] = .object(oneTimeKeyCounts)
            body["org.matrix.msc3202.device_one_time_keys_count"] = .object(oneTimeKeyCounts)
            body["device_unused_fallback_key_types"] = .object(fallbackKeyTypes)
            body["org.matrix.msc3202.device_unused_fallback_key_types"] = .object(fallbackKeyTypes)
        }
        return .object(body)
    }

    static func build(
        for service: AppServiceRegistration, after: Int64, upTo: Int64, storage: any Storage, serverName: ServerName, limit: Int,
        events known: [StoredEvent]? = nil
    ) async throws -> AppServiceTransaction {
        var interest = AppServiceInterest(storage: storage, serverName: serverName)
        var transaction = AppServiceTransaction()
        var concerned = Set<String>()
        // The range's events, unless the caller has just read them.
        var events = known ?? []
        if known == nil { events = try await storage.eventsByStream(after: after, upTo: upTo, limit: limit) }
        for event in events where try await interest.isInteresting(event, to: service) {
            transaction.events.append(ClientEventFormat.json(event, viewer: nil, version: nil))
            for user in [event.pdu.sender, event.pdu.stateKey].compactMap({ $0 }) where service.claims(user: user, on: serverName) {
                concerned.insert(user)
            }
        }
        if service.receiveEphemeral {
            transaction.ephemeral = try await ephemeral(for: service, after: after, upTo: upTo, storage: storage, interest: &interest, serverName: serverName)
        }
        if service.receiveEphemeral || service.msc3202 {
            for (userID, deviceID, message) in try await storage.toDeviceByStream(after: after, upTo: upTo)
            where service.claims(user: userID, on: serverName) {
                transaction.toDevice.append([
                    "type": .string(message.type), "sender": .string(message.sender), "content": message.content,
                    "to_user_id": .string(userID), "to_device_id": .string(deviceID),
                ])
                transaction.toDeviceRecipients.insert(Device(userID: userID, deviceID: deviceID))
                concerned.insert(userID)
            }
        }
        guard service.msc3202 else { return transaction }
        for userID in try await storage.deviceListChanges(after: after, upTo: upTo).sorted() {
            var shares = service.claims(user: userID, on: serverName)
            for membership in try await storage.memberships(userID: userID) where !shares && membership.membership == "join" {
                shares = try await interest.isInterested(inRoom: membership.roomID, service: service)
            }
            if shares { transaction.changedDeviceLists.append(userID) }
        }
        for userID in concerned.sorted() {
            var counts = JSONObject()
            var fallbacks = JSONObject()
            for device in try await storage.devices(userID: userID) {
                let state = try await storage.syncKeyState(userID: userID, deviceID: device.deviceID, acknowledged: nil, since: nil, upTo: upTo, toDeviceLimit: 0)
                counts[device.deviceID] = .object(JSONObject(state.oneTimeKeyCounts.mapValues { JSON.int(Int64($0)) }))
                fallbacks[device.deviceID] = .array(state.unusedFallbackKeyTypes.map(JSON.string))
            }
            transaction.oneTimeKeyCounts[userID] = .object(counts)
            transaction.fallbackKeyTypes[userID] = .object(fallbacks)
        }
        return transaction
    }

    private static func ephemeral(
        for service: AppServiceRegistration, after: Int64, upTo: Int64, storage: any Storage, interest: inout AppServiceInterest,
        serverName: ServerName
    ) async throws -> [JSON] {
        let (receipts, typingRooms, presence) = try await storage.ephemeralByStream(after: after, upTo: upTo)
        var ephemeral: [JSON] = []
        var byRoom: [String: JSONObject] = [:]
        for receipt in receipts where try await interest.isInterested(inRoom: receipt.roomID, service: service) {
            var read: JSONObject = ["ts": .int(receipt.timestamp)]
            if let thread = receipt.threadID { read["thread_id"] = .string(thread) }
            var content = byRoom[receipt.roomID] ?? [:]
            var forEvent = content[receipt.eventID]?.objectValue ?? [:]
            var forType = forEvent[receipt.type]?.objectValue ?? [:]
            forType[receipt.userID] = .object(read)
            forEvent[receipt.type] = .object(forType)
            content[receipt.eventID] = .object(forEvent)
            byRoom[receipt.roomID] = content
        }
        for (roomID, content) in byRoom.sorted(by: { $0.key < $1.key }) {
            ephemeral.append(["type": "m.receipt", "room_id": .string(roomID), "content": .object(content)])
        }
        let now = nowMillis()
        for roomID in typingRooms where try await interest.isInterested(inRoom: roomID, service: service) {
            let typing = try await storage.typingUsers(roomID: roomID, now: now)
            ephemeral.append(["type": "m.typing", "room_id": .string(roomID), "content": ["user_ids": .array(typing.map(JSON.string))]])
        }
        for record in presence {
            var shared = service.claims(user: record.userID, on: serverName)
            for membership in try await storage.memberships(userID: record.userID) where !shared && membership.membership == "join" {
                shared = try await interest.isInterested(inRoom: membership.roomID, service: service)
            }
            guard shared else { continue }
            var content: JSONObject = ["presence": .string(record.state), "last_active_ago": .int(max(0, now - record.lastActive))]
            if let message = record.statusMessage { content["status_msg"] = .string(message) }
            ephemeral.append(["type": "m.presence", "sender": .string(record.userID), "content": .object(content)])
        }
        return ephemeral
    }
}
