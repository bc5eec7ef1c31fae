import AxonStorage
import MatrixModel

/// What `/keys/query` answers, gathered from this server and others.
struct KeyQueryResult: Sendable {
    var deviceKeys = JSONObject()
    var masterKeys = JSONObject()
    var selfSigningKeys = JSONObject()
    var userSigningKeys = JSONObject()
    var failures = JSONObject()

    var json: JSONObject {
        [
            "device_keys": .object(deviceKeys), "master_keys": .object(masterKeys), "self_signing_keys": .object(selfSigningKeys),
            "user_signing_keys": .object(userSigningKeys), "failures": .object(failures),
        ]
    }
}

/// End-to-end encryption keys of users on other servers (spec "End-to-End Encryption" over
/// federation): `/user/keys/query` and `/user/keys/claim`, asked of each server at once,
/// each bounded by the client's timeout. A server that cannot be reached is named in
/// `failures`; what it answers is taken only for its own users.
struct RemoteKeys: Sendable {
    let context: ServerContext

    /// Tracked users (sharing a room with a local user) are answered from their cached device
    /// list when there is one; the rest are asked, tracked users for all their devices so the
    /// copy kept is whole.
    func query(_ byServer: [String: JSONObject], timeout: Duration, into result: inout KeyQueryResult) async throws {
        let lists = RemoteDeviceLists(context: context)
        var toAsk: [String: JSONObject] = [:]
        var wantedDevices: [String: [String]] = [:]
        for (server, users) in byServer {
            for (userID, devices) in users {
                let wanted = devices.arrayValue?.compactMap(\.stringValue) ?? []
                if let cached = try await lists.cached(userID) {
                    Self.fill(&result, userID: userID, keys: cached.keys, devices: wanted)
                    continue
                }
                let tracked = try await lists.isTracked(userID)
                toAsk[server, default: [:]][userID] = tracked ? [] : devices
                wantedDevices[userID] = wanted
            }
        }
        for (server, answer) in await ask(toAsk, path: "/_matrix/federation/v1/user/keys/query", key: "device_keys", timeout: timeout) {
            guard let answer else {
                result.failures[server] = ["errcode": "M_UNKNOWN", "error": .string("\(server) could not be reached")]
                continue
            }
            for (userID, devices) in answer["device_keys"]?.objectValue ?? [:] where Self.belongs(userID, to: server) {
                guard let wanted = wantedDevices[userID] else { continue }
                // Each device's keys must name the user and device they are filed under.
                var checked = JSONObject()
                for (deviceID, keys) in devices.objectValue ?? [:]
                where keys["user_id"]?.stringValue == userID && keys["device_id"]?.stringValue == deviceID {
                    checked[deviceID] = keys
                }
                let master = answer["master_keys"]?[userID]
                let selfSigning = answer["self_signing_keys"]?[userID]
                try await lists.remember(userID, devices: checked, master: master, selfSigning: selfSigning)
                Self.fill(&result, userID: userID, keys: RemoteDeviceLists.keys(devices: checked, master: master, selfSigning: selfSigning), devices: wanted)
            }
        }
    }

    /// One user's entries from a device list, only the devices asked for (all when none are).
    static func fill(_ result: inout KeyQueryResult, userID: String, keys: JSONObject, devices wanted: [String]) {
        var devices = keys["device_keys"]?.objectValue ?? [:]
        if !wanted.isEmpty {
            var chosen = JSONObject()
            for id in wanted { if let keys = devices[id] { chosen[id] = keys } }
            devices = chosen
        }
        result.deviceKeys[userID] = .object(devices)
        if let master = keys["master_key"] { result.masterKeys[userID] = master }
        if let selfSigning = keys["self_signing_key"] { result.selfSigningKeys[userID] = selfSigning }
    }

    func claim(_ byServer: [String: JSONObject], timeout: Duration, claimed: inout JSONObject, failures: inout JSONObject) async throws {
        for (server, answer) in await ask(byServer, path: "/_matrix/federation/v1/user/keys/claim", key: "one_time_keys", timeout: timeout) {
            guard let answer else {
                failures[server] = ["errcode": "M_UNKNOWN", "error": .string("\(server) could not be reached")]
                continue
            }
            for (userID, devices) in answer["one_time_keys"]?.objectValue ?? [:] where Self.belongs(userID, to: server) {
                claimed[userID] = devices
            }
        }
    }

    static func belongs(_ userID: String, to server: String) -> Bool {
        UserID(userID)?.server.value == server
    }

    /// One request per server, all at once; nil for a server that failed.
    private func ask(_ byServer: [String: JSONObject], path: String, key: String, timeout: Duration) async -> [(String, JSONObject?)] {
        let client = context.federation.client
        return await withTaskGroup(of: (String, JSONObject?).self) { group in
            for (server, users) in byServer {
                group.addTask {
                    guard client.mayFederate(with: server),
                        let response = try? await client.request(.POST, destination: server, path: path, body: [.init(stringLiteral: key): .object(users)], timeout: timeout),
                        response.status == 200, let object = response.json.objectValue
                    else { return (server, nil) }
                    return (server, object)
                }
            }
            var answers: [(String, JSONObject?)] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
    }
}

/// The inbound side: keys and devices of this server's users, for servers that share a room
/// with them or want to start an encrypted conversation (the spec lets any server ask).
extension ServerContext {
    func registerFederationKeyRoutes(on routes: RouteTable) {
        routes.add(.post, "/_matrix/federation/v1/user/keys/query", auth: .server) { request in
            let body = try request.jsonObject()
            guard let wanted = body["device_keys"]?.objectValue else { throw MatrixError.badJSON("'device_keys' must be an object") }
            var result = KeyQueryResult()
            for (userID, devices) in wanted where UserID(userID)?.server == serverName {
                // A remote server never sees a user-signing key: the requester is not a local user.
                try await localKeys(userID: userID, deviceIDs: devices.arrayValue?.compactMap(\.stringValue) ?? [], requester: "", into: &result)
            }
            return .ok(["device_keys": .object(result.deviceKeys), "master_keys": .object(result.masterKeys), "self_signing_keys": .object(result.selfSigningKeys)])
        }
        routes.add(.post, "/_matrix/federation/v1/user/keys/claim", auth: .server) { request in
            let body = try request.jsonObject()
            guard let wanted = body["one_time_keys"]?.objectValue else { throw MatrixError.badJSON("'one_time_keys' must be an object") }
            var claimed = JSONObject()
            for (userID, devices) in wanted where UserID(userID)?.server == serverName {
                guard let devices = devices.objectValue else { continue }
                let byDevice = try await claimLocalKeys(userID: userID, devices: devices)
                if !byDevice.isEmpty { claimed[userID] = .object(byDevice) }
            }
            return .ok(["one_time_keys": .object(claimed)])
        }
        routes.add(.get, "/_matrix/federation/v1/user/devices/{userId}", auth: .server) { request in
            let userID = request.parameter("userId")
            guard UserID(userID)?.server == serverName, try await storage.account(userID: userID) != nil else {
                throw MatrixError.notFound("Unknown user \(userID)")
            }
            var result = KeyQueryResult()
            try await localKeys(userID: userID, deviceIDs: [], requester: "", into: &result)
            let keys = result.deviceKeys[userID]?.objectValue ?? [:]
            var devices: [JSON] = []
            for device in try await storage.devices(userID: userID) {
                var entry: JSONObject = ["device_id": .string(device.deviceID)]
                if let name = device.displayName { entry["device_display_name"] = .string(name) }
                if var deviceKeys = keys[device.deviceID]?.objectValue {
                    deviceKeys["unsigned"] = nil
                    entry["keys"] = .object(deviceKeys)
                }
                devices.append(.object(entry))
            }
            var answer: JSONObject = [
                "user_id": .string(userID), "stream_id": .int(try await storage.currentStreamPosition()), "devices": .array(devices),
            ]
            if let master = result.masterKeys[userID] { answer["master_key"] = master }
            if let selfSigning = result.selfSigningKeys[userID] { answer["self_signing_key"] = selfSigning }
            return .ok(.object(answer))
        }
    }
}
