#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Open connections are bounded by the process's file descriptors. At the limit `accept`
/// fails with `EMFILE`, and a process without descriptors fails in places that cannot
/// recover (libdispatch reading `/proc`). So the soft limit is raised to the hard limit at
/// start, and the server stops accepting well before it is reached.
enum FileDescriptorLimit {
    /// Descriptors kept for the database, media files, outbound HTTP and the runtime.
    static let reserved = 256

    /// Raises the soft limit as far as allowed and returns it.
    @discardableResult
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        let wanted = min(limit.rlim_max, 1 << 20)
        if limit.rlim_cur < wanted {
            var raised = limit
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// How many connections to accept at once.
    static func maxConnections() -> Int {
        max(64, raise() - reserved)
    }
}
