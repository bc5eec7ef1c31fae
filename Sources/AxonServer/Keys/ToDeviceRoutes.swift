import AxonStorage
import MatrixModel

/// `PUT /sendToDevice/{eventType}/{txnId}` (spec to_device.yaml): queued per device,
/// delivered in /sync's `to_device` until a later `since` acknowledges them.
extension ServerContext {
    /// Most to-device messages a single request may carry.
    static let maxToDeviceRecipients = 10_000

    func registerToDeviceRoutes(on routes: RouteTable) {
        routes.client(.put, "/sendToDevice/{eventType}/{txnId}") { request in
            let body = try request.jsonObject()
            guard let messages = body["messages"]?.objectValue else { throw MatrixError.badJSON("'messages' must be an object") }
            let type = request.parameter("eventType")
            try RoomEventWriter.checkKeys(type: type, stateKey: nil)
            var recipients: [ToDeviceRecipient] = []
            var remote: [String: JSONObject] = [:]
            var count = 0
            for (userID, devices) in messages {
                guard let user = UserID(userID), let devices = devices.objectValue else {
                    throw MatrixError.badJSON("messages must map user IDs to objects of device IDs")
                }
                for (deviceID, content) in devices {
                    guard case .object = content else { throw MatrixError.badJSON("Message content must be an object") }
                    count += 1
                    if user.server == serverName {
                        recipients.append(ToDeviceRecipient(userID: userID, deviceID: deviceID, content: content))
                    }
                }
                if user.server != serverName { remote[user.server.value, default: [:]][userID] = .object(devices) }
            }
            guard count <= Self.maxToDeviceRecipients else { throw MatrixError.tooLarge("Too many recipients") }
            let txnID = request.parameter("txnId")
            let sent = try await storage.sendToDevice(
                sender: request.user.userID, senderDevice: request.user.deviceID, transactionID: txnID, type: type,
                recipients: recipients)
            if let sent {
                for user in sent.users { notifier.userChanged(user, position: sent.position) }
                // Other servers' users get theirs as `m.direct_to_device`, once per transaction.
                let messageID = request.user.deviceID + "." + txnID
                for (server, messages) in remote where federation.client.mayFederate(with: server) {
                    let content: JSON = [
                        "sender": .string(request.user.userID), "type": .string(type), "message_id": .string(messageID),
                        "messages": .object(messages),
                    ]
                    try await storage.enqueueOutbound(
                        destinations: [server], eventID: nil, edu: ["edu_type": "m.direct_to_device", "content": content], now: nowMillis())
                }
                if !remote.isEmpty { federation.sender.wake() }
            }
            return .empty
        }
    }
}
