import AxonStorage
import MatrixModel

/// Synapse's event reports API: what users reported with `/rooms/{roomId}/report/{eventId}`,
/// listed, read with the event, and dismissed.
extension ServerContext {
    func registerAdminReportRoutes(on routes: RouteTable) {
        routes.add(.get, "/_synapse/admin/v1/event_reports") { request in
            try requireAdmin(request)
            var query = ReportQuery()
            (query.from, query.limit) = try request.adminPage()
            // Synapse's default is newest first: `dir=f` asks for the oldest.
            query.newestFirst = request.query("dir") == nil ? true : try request.backwardsQuery()
            query.roomID = request.query("room_id")
            query.reporter = request.query("user_id")
            query.eventSender = request.query("event_sender_user_id")
            let (reports, total) = try await storage.eventReports(query)
            var entries: [JSON] = []
            for report in reports { entries.append(.object(try await reportEntry(report))) }
            var response: JSONObject = ["event_reports": .array(entries), "total": .int(Int64(total))]
            if query.from + reports.count < total { response["next_token"] = .int(Int64(query.from + reports.count)) }
            return .ok(.object(response))
        }
        routes.add(.get, "/_synapse/admin/v1/event_reports/{reportId}") { request in
            try requireAdmin(request)
            let report = try await eventReport(request)
            var entry = try await reportEntry(report)
            if let eventID = report.eventID, let event = try await storage.event(id: eventID) {
                entry["event_json"] = .object(ServerVisibility.federationForm(event.pdu).json)
            } else {
                entry["event_json"] = .null
            }
            return .ok(.object(entry))
        }
        routes.add(.delete, "/_synapse/admin/v1/event_reports/{reportId}") { request in
            try requireAdmin(request)
            let report = try await eventReport(request)
            _ = try await storage.deleteReport(id: report.id)
            return .ok([:])
        }
    }

    private func eventReport(_ request: MatrixRequest) async throws -> ContentReport {
        guard let id = Int64(request.parameter("reportId")), id >= 0 else {
            throw MatrixError.invalidParam("The report ID must be a non-negative integer")
        }
        guard let report = try await storage.report(id: id), report.eventID != nil else { throw MatrixError.notFound("Event report not found") }
        return report
    }

    private func reportEntry(_ report: ContentReport) async throws -> JSONObject {
        var entry: JSONObject = [
            "id": .int(report.id), "received_ts": .int(report.createdAt), "user_id": .string(report.reporter),
            "reason": report.reason.map(JSON.string) ?? .null, "score": .null, "event_id": report.eventID.map(JSON.string) ?? .null,
            "room_id": report.roomID.map(JSON.string) ?? .null, "sender": report.userID.map(JSON.string) ?? .null,
            "name": .null, "canonical_alias": .null,
        ]
        if let roomID = report.roomID {
            entry["name"] = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.name", ""))?.content["name"] ?? .null
            entry["canonical_alias"] =
                try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.canonical_alias", ""))?.content["alias"] ?? .null
        }
        return entry
    }
}
