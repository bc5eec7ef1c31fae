/// Which event reports `GET /_synapse/admin/v1/event_reports` lists.
public struct ReportQuery: Sendable, Equatable {
    public var from = 0
    public var limit = 100
    /// Newest first (Synapse's default, `dir=b`).
    public var newestFirst = true
    public var roomID: String?
    /// Who reported.
    public var reporter: String?
    /// Who sent the reported event.
    public var eventSender: String?

    public init() {}
}

/// The reports users made, as admins read and dismiss them.
public protocol AdminReportStore: Sendable {
    /// A page of reports of events, and how many match in all.
    func eventReports(_ query: ReportQuery) async throws -> (reports: [ContentReport], total: Int)
    func report(id: Int64) async throws -> ContentReport?
    /// False when there was no such report.
    func deleteReport(id: Int64) async throws -> Bool
}
