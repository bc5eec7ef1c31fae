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
            // MSC4190: an application service makes its users' devices here (201), without /login.
            if managesDevices(request), try await storage.device(userID: request.user.userID, deviceID: request.parameter("deviceId")) == nil {
                let deviceID = request.parameter("deviceId")
                guard !deviceID.isEmpty, deviceID.utf8.count <= 255 else { throw MatrixError.invalidParam("Invalid device ID") }
                try await storage.createSession(
                    NewSession(
                        device: Device(userID: request.user.userID, deviceID: deviceID, displayName: try body.optionalString("display_name")),
                        tokenHash: nil, createdAt: nowMillis(), ip: request.remoteIP))
                try await announceDeviceListChange(request.user.userID, at: try await storage.markDeviceListChanged(userID: request.user.userID))
                return MatrixResponse(status: .created, json: [:])
            }
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
        if !managesDevices(request) {
            try await uia.require(passwordRequirement("\(operation) \(deviceIDs.sorted().joined(separator: ","))", request), body: body)
        }
        try await announceDeviceListChange(
            request.user.userID, at: try await storage.deleteDevices(userID: request.user.userID, deviceIDs: deviceIDs))
        return .empty
    }
}

extension ServerContext {
    /// An application service registered for MSC4190, which manages its users' devices
    /// without user-interactive auth.
    func managesDevices(_ request: MatrixRequest) -> Bool {
        request.user.appServiceID.flatMap(appServices.service(id:))?.msc4190 == true
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
