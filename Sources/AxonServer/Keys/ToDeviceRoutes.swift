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
            for (userID, devices) in messages {
                guard let user = UserID(userID), let devices = devices.objectValue else {
                    throw MatrixError.badJSON("messages must map user IDs to objects of device IDs")
                }
                // Without federation, messages for other servers have nowhere to go.
                guard user.server == serverName else { continue }
                for (deviceID, content) in devices {
                    guard case .object = content else { throw MatrixError.badJSON("Message content must be an object") }
                    recipients.append(ToDeviceRecipient(userID: userID, deviceID: deviceID, content: content))
                }
            }
            guard recipients.count <= Self.maxToDeviceRecipients else { throw MatrixError.tooLarge("Too many recipients") }
            let sent = try await storage.sendToDevice(
                sender: request.user.userID, senderDevice: request.user.deviceID, transactionID: request.parameter("txnId"), type: type,
                recipients: recipients)
            if let sent {
                for user in sent.users { notifier.userChanged(user, position: sent.position) }
            }
            return .empty
        }
    }
}
