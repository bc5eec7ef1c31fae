import Synchronization

/// Wakes long-polling requests (`/sync`, `/events`) the moment something relevant to them
/// is written: an event in one of their rooms, or data addressed to their user. No polling.
///
/// A waiter registers with the stream position its response was computed at; a change
/// after that position wakes it even if it happened before it registered, so nothing slips
/// between reading the database and starting to wait.
final class Notifier: Sendable {
    private struct Waiter {
        let userID: String
        let rooms: Set<String>
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var roomPositions: [String: Int64] = [:]
        var userPositions: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    /// Called on every room change (after waiters are woken): senders that push events on
    /// (application services) start at once instead of polling.
    private let roomObservers = Mutex([@Sendable () -> Void]())

    func observeRoomChanges(_ observer: @escaping @Sendable () -> Void) {
        roomObservers.withLock { $0.append(observer) }
    }

    /// The latest position this process knows `roomID` changed at (0 when none since start):
    /// a cache key that moves whenever the room does, on any node.
    func position(ofRoom roomID: String) -> Int64 {
        state.withLock { $0.roomPositions[roomID] ?? 0 }
    }

    /// Records that `roomID` changed at `position` and wakes everyone watching it.
    func roomChanged(_ roomID: String, position: Int64) {
        let woken = state.withLock { state in
            state.roomPositions[roomID] = max(state.roomPositions[roomID] ?? 0, position)
            return Self.take(&state) { $0.rooms.contains(roomID) }
        }
        for waiter in woken { waiter.resume() }
        for observer in roomObservers.withLock({ $0 }) { observer() }
    }

    /// Records that data for `userID` (a new room, account data, …) changed at `position`.
    func userChanged(_ userID: String, position: Int64) {
        let woken = state.withLock { state in
            state.userPositions[userID] = max(state.userPositions[userID] ?? 0, position)
            return Self.take(&state) { $0.userID == userID }
        }
        for waiter in woken { waiter.resume() }
    }

    /// Waits until something newer than `since` happens in `rooms` or for `userID`, or until
    /// `timeout` passes, or the task is cancelled.
    func wait(userID: String, rooms: Set<String>, since: Int64, timeout: Duration) async {
        let id: UInt64? = state.withLock { state in
            if (state.userPositions[userID] ?? 0) > since { return nil }
            if rooms.contains(where: { (state.roomPositions[$0] ?? 0) > since }) { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLock { state -> Bool in
                            if (state.userPositions[userID] ?? 0) > since
                                || rooms.contains(where: { (state.roomPositions[$0] ?? 0) > since }) || Task.isCancelled
                            {
                                return true
                            }
                            state.waiters[id] = Waiter(userID: userID, rooms: rooms, continuation: continuation)
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.cancel(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func cancel(_ id: UInt64) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.continuation.resume()
    }

    private static func take(_ state: inout State, where matches: (Waiter) -> Bool) -> [CheckedContinuation<Void, Never>] {
        var woken: [CheckedContinuation<Void, Never>] = []
        for (id, waiter) in state.waiters where matches(waiter) {
            woken.append(waiter.continuation)
            state.waiters[id] = nil
        }
        return woken
    }
}
