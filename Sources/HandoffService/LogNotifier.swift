import Foundation
import HandoffStore
import Postgres
import Synchronization

/// Tells the servers' live pages that events were committed: `NOTIFY handoff_events` after the commit, in a
/// statement of its own, at most one per `interval` per process (a burst of commits is one notification, sent when
/// the first commits and again `interval` later for the rest).
///
/// Not inside the appending transaction: PostgreSQL serialises the commits of transactions that notify (they hold
/// a database-wide lock until their commit record is flushed), which halved the append rate at 16 clients
/// (`handoff bench append`: 0.87 of the raw baseline without, 0.59 with a notifying trigger). A notification is
/// only a hint to read the log; one lost to a crash between commit and notify delays a page until its listener's
/// polling fallback.
public final class LogNotifier: Sendable {
    private enum State {
        case idle
        /// A notification is on its way; `again`: commits came after it was sent.
        case sending(again: Bool)
    }

    private let pool: ConnectionPool
    private let interval: Duration
    private let state = Mutex(State.idle)
    private let idle = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(pool: ConnectionPool, interval: Duration = .milliseconds(50)) {
        self.pool = pool
        self.interval = interval
    }

    /// Events were committed.
    func poke() {
        let start = state.withLock { state -> Bool in
            switch state {
            case .idle:
                state = .sending(again: false)
                return true
            case .sending:
                state = .sending(again: true)
                return false
            }
        }
        if start {
            Task { await send() }
        }
    }

    private func send() async {
        while true {
            try? await pool.withConnection { connection in try EventStore.notifyListeners(on: connection) }
            try? await Task.sleep(for: interval)
            let again = state.withLock { state -> Bool in
                if case .sending(again: true) = state {
                    state = .sending(again: false)
                    return true
                }
                state = .idle
                return false
            }
            if !again { break }
        }
        for waiter in idle.withLock({ waiters in defer { waiters.removeAll() }; return waiters }) {
            waiter.resume()
        }
    }

    /// Returns once every poke so far has been sent (a command-line process calls it before it exits).
    func flush() async {
        await withCheckedContinuation { continuation in
            let sending = state.withLock { state -> Bool in
                if case .idle = state { return false }
                idle.withLock { $0.append(continuation) }
                return true
            }
            if !sending { continuation.resume() }
        }
    }
}
