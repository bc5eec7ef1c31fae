import AxonStorage
import MatrixModel

/// Synapse's admin API for a user's devices: list, read, rename, delete.
extension ServerContext {
    func registerAdminDeviceRoutes(on routes: RouteTable) {
        let base = "/_synapse/admin/v2/users/{userId}/devices"
        routes.add(.get, base) { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard try await storage.account(userID: userID) != nil else { throw MatrixError.notFound("User not found") }
            let devices = try await storage.devices(userID: userID).map { JSON.object(Self.adminDevice($0)) }
            return .ok(["devices": .array(devices), "total": .int(Int64(devices.count))])
        }
        routes.add(.get, base + "/{deviceId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard let device = try await storage.device(userID: userID, deviceID: request.parameter("deviceId")) else {
                throw MatrixError.notFound("Device not found")
            }
            return .ok(.object(Self.adminDevice(device)))
        }
        routes.add(.put, base + "/{deviceId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            let name = try request.jsonObject().optionalString("display_name")
            if let name, name.utf8.count > 256 { throw MatrixError.invalidParam("Device names are limited to 256 bytes") }
            guard try await storage.setDeviceDisplayName(userID: userID, deviceID: request.parameter("deviceId"), displayName: name) else {
                throw MatrixError.notFound("Device not found")
            }
            try await announceDeviceListChange(userID, at: try await storage.markDeviceListChanged(userID: userID))
            return .ok([:])
        }
        routes.add(.delete, base + "/{deviceId}") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            try await announceDeviceListChange(userID, at: try await storage.deleteDevices(userID: userID, deviceIDs: [request.parameter("deviceId")]))
            return .ok([:])
        }
        routes.add(.post, "/_synapse/admin/v2/users/{userId}/delete_devices") { request in
            try requireAdmin(request)
            let userID = try localUser(request).description
            guard let ids = try request.jsonObject().optional("devices")?.arrayValue?.compactMap(\.stringValue) else {
                throw MatrixError.missingParam("Missing 'devices'")
            }
            try await announceDeviceListChange(userID, at: try await storage.deleteDevices(userID: userID, deviceIDs: ids))
            return .ok([:])
        }
    }

    static func adminDevice(_ device: Device) -> JSONObject {
        [
            "device_id": .string(device.deviceID), "display_name": device.displayName.map(JSON.string) ?? .null,
            "last_seen_ip": device.lastSeenIP.map(JSON.string) ?? .null, "last_seen_ts": device.lastSeenAt.map(JSON.int) ?? .null,
            "last_seen_user_agent": device.lastSeenUserAgent.map(JSON.string) ?? .null, "user_id": .string(device.userID),
        ]
    }
}
