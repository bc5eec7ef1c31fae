import AxonStorage
import MatrixModel

/// Device lists of remote users who share a room with a local user (spec "Tracking the
/// device list for a user"): their keys are cached and kept current from their server's
/// `m.device_list_update` EDUs. An update is applied when each `prev_id` it names is the last
/// one applied; otherwise an update was lost and the whole list is fetched again with
/// `/user/devices/{userId}`. A user no longer sharing a room is not tracked: their copy is
/// dropped rather than trusted, since no more updates will come.
struct RemoteDeviceLists: Sendable {
    let context: ServerContext

    var storage: any Storage { context.storage }

    func isTracked(_ userID: String) async throws -> Bool {
        try await storage.memberships(userID: userID).contains { $0.membership == "join" }
    }

    /// The cached keys, only while the user is tracked.
    func cached(_ userID: String) async throws -> RemoteDeviceList? {
        guard let list = try await storage.remoteDeviceList(userID: userID) else { return nil }
        guard try await isTracked(userID) else {
            try await storage.deleteRemoteDeviceList(userID: userID)
            return nil
        }
        return list
    }

    /// Keeps what `/user/keys/query` answered for a tracked user.
    func remember(_ userID: String, devices: JSONObject, master: JSON?, selfSigning: JSON?) async throws {
        guard try await isTracked(userID) else { return }
        let streamID = try await storage.remoteDeviceList(userID: userID)?.streamID
        try await storage.saveRemoteDeviceList(
            RemoteDeviceList(userID: userID, streamID: streamID, keys: Self.keys(devices: devices, master: master, selfSigning: selfSigning)))
    }

    static func keys(devices: JSONObject, master: JSON?, selfSigning: JSON?) -> JSONObject {
        var keys: JSONObject = ["device_keys": .object(devices)]
        if let master { keys["master_key"] = master }
        if let selfSigning { keys["self_signing_key"] = selfSigning }
        return keys
    }

    /// One `m.device_list_update` of `origin`'s user: applied in order, or the list fetched
    /// anew when one was missed.
    func apply(_ update: JSON, origin: String) async throws {
        guard let userID = update["user_id"]?.stringValue, let deviceID = update["device_id"]?.stringValue,
            let streamID = update["stream_id"]?.intValue, let list = try await cached(userID)
        else { return }
        let previous = (update["prev_id"]?.arrayValue ?? []).compactMap(\.intValue)
        guard previous.allSatisfy({ $0 == list.streamID }) else {
            try await resync(userID, origin: origin)
            return
        }
        var devices = list.keys["device_keys"]?.objectValue ?? [:]
        if update["deleted"] == .bool(true) {
            devices[deviceID] = nil
        } else if let keys = update["keys"]?.objectValue, keys["user_id"]?.stringValue == userID, keys["device_id"]?.stringValue == deviceID {
            var entry = keys
            if let name = update["device_display_name"]?.stringValue { entry["unsigned"] = ["device_display_name": .string(name)] }
            devices[deviceID] = .object(entry)
        } else if devices[deviceID] == nil {
            // A new device whose keys the update does not carry: only a fresh list has them.
            try await resync(userID, origin: origin)
            return
        }
        var keys = list.keys
        keys["device_keys"] = .object(devices)
        try await storage.saveRemoteDeviceList(RemoteDeviceList(userID: userID, streamID: streamID, keys: keys))
    }

    /// Cross-signing keys changed: the cached copy is dropped and asked for on the next query.
    func forget(_ userID: String) async throws {
        try await storage.deleteRemoteDeviceList(userID: userID)
    }

    /// The whole list from the user's server; if it cannot be had, the copy is dropped, so the
    /// next `/keys/query` asks again rather than answering with what may be stale.
    func resync(_ userID: String, origin: String) async throws {
        let path = "/_matrix/federation/v1/user/devices/\(PercentEncoding.component(userID))"
        guard let response = try? await context.federation.client.request(.GET, destination: origin, path: path, timeout: .seconds(15)),
            response.status == 200, response.json["user_id"]?.stringValue == userID
        else {
            try await storage.deleteRemoteDeviceList(userID: userID)
            return
        }
        var devices = JSONObject()
        for device in response.json["devices"]?.arrayValue ?? [] {
            guard let deviceID = device["device_id"]?.stringValue, var keys = device["keys"]?.objectValue,
                keys["user_id"]?.stringValue == userID, keys["device_id"]?.stringValue == deviceID
            else { continue }
            if let name = device["device_display_name"]?.stringValue { keys["unsigned"] = ["device_display_name": .string(name)] }
            devices[deviceID] = .object(keys)
        }
        let keys = Self.keys(devices: devices, master: response.json["master_key"], selfSigning: response.json["self_signing_key"])
        try await storage.saveRemoteDeviceList(RemoteDeviceList(userID: userID, streamID: response.json["stream_id"]?.intValue, keys: keys))
    }
}
