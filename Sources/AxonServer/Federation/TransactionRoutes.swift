import AxonStorage
import MatrixModel

/// `PUT /_matrix/federation/v1/send/{txnId}` (spec "Transactions"): at most 50 PDUs and 100
/// EDUs; each PDU gets a result; a transaction seen before from the same origin is answered
/// as it was, without processing it again. PDUs are processed in order, each under its
/// room's write lock (the same lock local sends take).
extension ServerContext {
    static let maxTransactionPDUs = 50
    static let maxTransactionEDUs = 100

    var pduReceiver: PDUReceiver {
        PDUReceiver(
            storage: storage, keys: federation.keys, client: federation.client,
            graph: RoomGraph(storage: storage, serverName: serverName.value), rooms: rooms, logger: logger)
    }

    func registerTransactionRoutes(on routes: RouteTable) {
        routes.add(.put, "/_matrix/federation/v1/send/{txnId}", auth: .server) { request in
            let origin = request.origin ?? ""
            let txnID = request.parameter("txnId")
            if let previous = try await storage.inboundTransactionResponse(origin: origin, txnID: txnID) { return .ok(previous) }
            let body = try request.jsonObject()
            guard body["pdus"] == nil || body["pdus"]?.arrayValue != nil, body["edus"] == nil || body["edus"]?.arrayValue != nil else {
                throw MatrixError.badJSON("'pdus' and 'edus' must be arrays")
            }
            let pdus = body["pdus"]?.arrayValue ?? []
            let edus = body["edus"]?.arrayValue ?? []
            guard pdus.count <= Self.maxTransactionPDUs, edus.count <= Self.maxTransactionEDUs else {
                throw MatrixError.badJSON("A transaction carries at most \(Self.maxTransactionPDUs) PDUs and \(Self.maxTransactionEDUs) EDUs")
            }
            var results = JSONObject()
            let receiver = pduReceiver
            for pdu in pdus {
                guard let object = pdu.objectValue else { continue }
                let result = await receiver.receive(object, origin: origin)
                if let eventID = result.eventID { results[eventID] = result.error.map { ["error": .string($0)] } ?? [:] }
            }
            for edu in edus {
                guard let object = edu.objectValue else { continue }
                await receiveEDU(object, origin: origin)
            }
            let response: JSON = ["pdus": .object(results)]
            try await storage.saveInboundTransaction(origin: origin, txnID: txnID, response: response, now: nowMillis())
            return .ok(response)
        }
    }

    /// Typing notices, read receipts, presence, to-device messages and device-list and
    /// signing-key updates, each only of the origin's own users. Other EDU types are ignored.
    func receiveEDU(_ edu: JSONObject, origin: String) async {
        let content = edu["content"] ?? [:]
        func isOwn(_ userID: String?) -> Bool { userID.flatMap(UserID.init)?.server.value == origin }
        func joined(_ userID: String, _ roomID: String) async -> Bool {
            (try? await storage.membership(roomID: roomID, userID: userID))??.membership == "join"
        }
        do {
            switch edu["edu_type"]?.stringValue {
            case "m.typing":
                guard let roomID = content["room_id"]?.stringValue, let userID = content["user_id"]?.stringValue, isOwn(userID),
                    await joined(userID, roomID), await mayParticipate(origin, roomID: roomID)
                else { return }
                let typing = content["typing"]?.boolValue ?? false
                let position = try await storage.setTyping(roomID: roomID, userID: userID, expiresAt: typing ? nowMillis() + 30_000 : nil)
                notifier.roomChanged(roomID, position: position)
            case "m.receipt":
                for (roomID, byType) in content.objectValue ?? [:] where await mayParticipate(origin, roomID: roomID) {
                    for (userID, receipt) in byType["m.read"]?.objectValue ?? [:] where isOwn(userID) {
                        guard await joined(userID, roomID), let eventID = receipt["event_ids"]?.arrayValue?.first?.stringValue else { continue }
                        let threadID = receipt["data"]?["thread_id"]?.stringValue
                        let position = try await storage.setReceipt(
                            Receipt(
                                roomID: roomID, userID: userID, type: "m.read", threadID: threadID, eventID: eventID,
                                timestamp: receipt["data"]?["ts"]?.intValue ?? nowMillis()))
                        notifier.roomChanged(roomID, position: position)
                    }
                }
            case "m.presence":
                for update in content["push"]?.arrayValue ?? [] {
                    guard let userID = update["user_id"]?.stringValue, isOwn(userID), let state = update["presence"]?.stringValue,
                        PresenceService.states.contains(state)
                    else { continue }
                    try await presence.setRemote(userID: userID, state: state, statusMessage: update["status_msg"]?.stringValue)
                }
            case "m.direct_to_device":
                // Once per (sender, message_id): a transaction sent again delivers nothing twice.
                guard let sender = content["sender"]?.stringValue, isOwn(sender), let type = content["type"]?.stringValue,
                    let messageID = content["message_id"]?.stringValue, let messages = content["messages"]?.objectValue
                else { return }
                var recipients: [ToDeviceRecipient] = []
                for (userID, devices) in messages where UserID(userID)?.server == serverName {
                    for (deviceID, message) in devices.objectValue ?? [:] {
                        guard case .object = message else { continue }
                        recipients.append(ToDeviceRecipient(userID: userID, deviceID: deviceID, content: message))
                    }
                }
                guard !recipients.isEmpty, recipients.count <= Self.maxToDeviceRecipients else { return }
                if let sent = try await storage.receiveToDevice(sender: sender, messageID: messageID, type: type, recipients: recipients)
                {
                    for user in sent.users { notifier.userChanged(user, position: sent.position) }
                }
            case "m.device_list_update", "m.signing_key_update":
                // The user's devices or cross-signing keys changed: the cached copy follows
                // (`RemoteDeviceLists`), and local clients sharing a room with them re-query
                // (`device_lists.changed`).
                guard let userID = content["user_id"]?.stringValue, isOwn(userID) else { return }
                let lists = RemoteDeviceLists(context: self)
                if edu["edu_type"] == "m.device_list_update" {
                    try await lists.apply(content, origin: origin)
                } else {
                    try await lists.forget(userID)
                }
                try await announceDeviceListChange(userID, at: try await storage.markDeviceListChanged(userID: userID))
            default:
                return
            }
        } catch {
            logger.info("an EDU could not be applied", metadata: ["origin": "\(origin)", "error": "\(error)"])
        }
    }

    /// Whether a server may act in a room: the room is known here and its ACL admits it.
    func mayParticipate(_ server: String, roomID: String) async -> Bool {
        guard (try? await storage.room(id: roomID)) != nil else { return false }
        return (try? await storage.serverACL(roomID: roomID))??.allows(server) ?? true
    }
}
