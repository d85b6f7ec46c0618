import CLibPQ
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One thread that waits on every connection's socket at once (Linux `epoll`) and resumes the task waiting for
/// each socket that became ready.
///
/// A statement sent without blocking (`Connection`'s async calls) parks its task here until the server's answer
/// arrives. No thread waits per connection: one `epoll_wait` covers all of them, and when several answers arrive
/// together one wake-up resumes them all. Each wait arms its socket once (`EPOLLONESHOT`), so a readiness is
/// reported to exactly one waiter.
final class SocketPoller: Sendable {
    /// The process's poller, started on first use.
    static let shared = SocketPoller()

    enum Interest {
        case readable
        /// Readable or writable: what libpq asks for while its output has not all gone out.
        case readableOrWritable
    }

    private let descriptor: Int32
    private let waiters = Mutex<[Int32: CheckedContinuation<Void, any Error>]>([:])
    /// Sockets added to the epoll set (the first wait adds a socket, later ones re-arm it).
    private let registered = Mutex<Set<Int32>>([])

    private init() {
        descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(descriptor >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        // The poller lives as long as the process (`shared`), so the thread may hold it.
        let thread = Thread { self.run() }
        thread.name = "handoff.postgres.poller"
        thread.start()
    }

    /// Suspends until `socket` is readable (or, as asked, writable), or has failed: the caller then reads (or writes) and
    /// learns of a failure from libpq. Throws `.connectionLost` when the socket cannot be watched.
    ///
    /// A socket has at most one waiter at a time (a connection is used by one borrower at a time).
    func wait(for interest: Interest, on socket: Int32) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            waiters.withLock { $0[socket] = continuation }
            let flags = (interest == .readable ? EPOLLIN.rawValue : EPOLLIN.rawValue | EPOLLOUT.rawValue)
                | EPOLLONESHOT.rawValue | EPOLLRDHUP.rawValue
            var event = epoll_event()
            event.events = flags
            event.data.fd = socket
            let isNew = registered.withLock { $0.insert(socket).inserted }
            var result = epoll_ctl(descriptor, isNew ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
            if result != 0, errno == ENOENT || errno == EEXIST {
                // The socket number was closed and reused since it was last seen: register it afresh.
                result = epoll_ctl(descriptor, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
            }
            if result != 0 {
                let reason = String(cString: strerror(errno))
                if let waiter = waiters.withLock({ $0.removeValue(forKey: socket) }) {
                    waiter.resume(throwing: PostgresError(.connectionLost, message: "cannot watch the socket: \(reason)"))
                }
            }
        }
    }

    /// Stops watching `socket`; call before the socket closes, so a later socket with the same number starts clean.
    func forget(_ socket: Int32) {
        guard registered.withLock({ $0.remove(socket) }) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(descriptor, EPOLL_CTL_DEL, socket, &event)
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(descriptor, buffer.baseAddress, Int32(buffer.count), -1)
            }
            guard count > 0 else { continue }  // EINTR
            let ready = waiters.withLock { waiting in
                (0..<Int(count)).compactMap { waiting.removeValue(forKey: events[$0].data.fd) }
            }
            for waiter in ready {
                waiter.resume()
            }
        }
    }
}
