import AxonStorage
import MatrixModel

extension ServerContext {
    func registerDeviceRoutes(on routes: RouteTable) {
        routes.client(.get, "/devices") { request in
            let devices = try await storage.devices(userID: request.user.userID)
            return .ok(["devices": .array(devices.map(\.json))])
        }
        routes.client(.get, "/devices/{deviceId}") { request in
            guard let device = try await storage.device(userID: request.user.userID, deviceID: request.parameter("deviceId"))
            else { throw MatrixError.notFound("Unknown device") }
            return .ok(device.json)
        }
        routes.client(.put, "/devices/{deviceId}") { request in
            let body = try request.jsonObject()
            let updated = try await storage.setDeviceDisplayName(
                userID: request.user.userID, deviceID: request.parameter("deviceId"),
                displayName: try body.optionalString("display_name"))
            guard updated else { throw MatrixError.notFound("Unknown device") }
            // Other users' clients show device names: they learn of the change as of any other.
            try await announceDeviceListChange(request.user.userID, at: try await storage.markDeviceListChanged(userID: request.user.userID))
            return .empty
        }
        routes.client(.delete, "/devices/{deviceId}") { request in
            try await deleteDevices(request, deviceIDs: [request.parameter("deviceId")], operation: "delete_device")
        }
        routes.client(.post, "/delete_devices") { request in
            let body = try request.jsonObject()
            guard let deviceIDs = try body.optionalStringArray("devices") else {
                throw MatrixError.missingParam("Missing 'devices'")
            }
            return try await deleteDevices(request, deviceIDs: deviceIDs, operation: "delete_devices")
        }
    }

    private func deleteDevices(_ request: MatrixRequest, deviceIDs: [String], operation: String) async throws -> MatrixResponse {
        let body = try request.jsonObject()
        if operation == "delete_device",
            try await storage.device(userID: request.user.userID, deviceID: deviceIDs[0]) == nil
        {
            throw MatrixError.notFound("Unknown device")
        }
        // The session is bound to exactly these devices: one started to delete device A
        // cannot complete the deletion of device B.
        try await uia.require(passwordRequirement("\(operation) \(deviceIDs.sorted().joined(separator: ","))", request), body: body)
        try await announceDeviceListChange(
            request.user.userID, at: try await storage.deleteDevices(userID: request.user.userID, deviceIDs: deviceIDs))
        return .empty
    }
}

extension Device {
    var json: JSON {
        // Clients such as matrix-nio require display_name while the spec types it as a string,
        // so an unnamed device is presented by its ID rather than as null.
        var object: JSONObject = ["device_id": .string(deviceID), "display_name": .string(displayName ?? deviceID)]
        if let lastSeenIP { object["last_seen_ip"] = .string(lastSeenIP) }
        if let lastSeenAt { object["last_seen_ts"] = .int(lastSeenAt) }
        return .object(object)
    }
}
